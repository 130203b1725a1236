package hub

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/resound/resound/protocol"
)

func signinMsg(s *Session, userData string) []byte {
	b, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]string{
		"auth": s.app.Key + ":" + protocol.SignUser(s.app.Secret, s.ID(), userData), "user_data": userData}})
	return b
}

func TestUserLimitsDefaults(t *testing.T) {
	c := AppConfig{}.WithDefaults()
	if c.MaxUserDataSize != 4096 || c.MaxWatchlistSize != 100 || c.UserAuthenticationTimeout != 0 || c.SubscriptionCountEvents {
		t.Fatalf("defaults: %+v", c)
	}
	c = AppConfig{MaxUserDataSize: -5, MaxWatchlistSize: -1, UserAuthenticationTimeout: -3}.WithDefaults()
	if c.MaxUserDataSize != NoLimit || c.MaxWatchlistSize != NoLimit || c.UserAuthenticationTimeout != 0 {
		t.Fatalf("negative values: %+v", c)
	}
}

func TestAcceptClientEventsFromIsChecked(t *testing.T) {
	frame := func(p []byte) []byte { return p }
	for _, v := range []string{"", "members", "all", "none"} {
		h, err := New([]AppConfig{{ID: "a", Key: "k", Secret: "s", AcceptClientEventsFrom: v}}, Options{Frame: frame})
		if err != nil {
			t.Fatalf("%q refused: %v", v, err)
		}
		_ = h.Close()
	}
	if _, err := New([]AppConfig{{ID: "a", Key: "k", Secret: "s", AcceptClientEventsFrom: "All"}}, Options{Frame: frame}); err == nil || !strings.Contains(err.Error(), "members, all or none") {
		t.Fatalf("got %v", err)
	}
}

func TestWatcherIsToldEachTransitionOnce(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	w, wout := openSocket(t, h, a)
	w.Handle(signinMsg(w, `{"id":"w","watchlist":["x"]}`))
	x1, _ := openSocket(t, h, a)
	x2, _ := openSocket(t, h, a)
	x1.Handle(signinMsg(x1, `{"id":"x"}`))
	x2.Handle(signinMsg(x2, `{"id":"x"}`))
	x1.Close()
	x2.Close()
	x3, _ := openSocket(t, h, a)
	x3.Handle(signinMsg(x3, `{"id":"x"}`))
	want := []string{"pusher:signin_success", "pusher_internal:watchlist_events", "pusher_internal:watchlist_events", "pusher_internal:watchlist_events"}
	if got := wout.events(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("watcher got %v", got)
	}
	var datas []string
	for _, f := range wout.frames[1:] {
		datas = append(datas, decodeWire(t, f).Data)
	}
	wantData := []string{
		`{"events":[{"name":"online","user_ids":["x"]}]}`,
		`{"events":[{"name":"offline","user_ids":["x"]}]}`,
		`{"events":[{"name":"online","user_ids":["x"]}]}`,
	}
	if !reflect.DeepEqual(datas, wantData) {
		t.Fatalf("watchlist data %v", datas)
	}
	// A watcher signing in later hears only who is online now.
	late, lout := openSocket(t, h, a)
	late.Handle(signinMsg(late, `{"id":"l","watchlist":["x","w","nobody"]}`))
	if m := lout.last(t); m.Data != `{"events":[{"name":"online","user_ids":["x","w"]}]}` {
		t.Fatalf("late watcher got %s", m.Data)
	}
}

func TestOnlineViewKeepsNewsWhileLoadingAndDropsOldNews(t *testing.T) {
	_, a := newTestHub(t, AppConfig{})
	a.applyUserNews(MemberNews{App: a.ID, Channel: usersChannel, UserID: "ignored", Added: true, Version: 9})
	if len(a.signins.early) != 0 {
		t.Fatal("news kept while nobody here signs in")
	}
	a.signins.startLoading()
	a.applyUserNews(MemberNews{UserID: "y", Added: true, Version: 5})
	a.applyUserNews(MemberNews{UserID: "old", Added: false, Version: 3})
	a.loadOnline(PresenceList{Members: []string{`{"user_id":"old"}`}, Version: 4})
	if _, on := a.signins.online["y"]; !on {
		t.Fatal("news newer than the list was lost")
	}
	if _, on := a.signins.online["old"]; !on {
		t.Fatal("news older than the list was applied")
	}
	a.applyUserNews(MemberNews{UserID: "y", Added: false, Version: 5})
	if _, on := a.signins.online["y"]; !on {
		t.Fatal("a repeated version was applied")
	}
}

func TestServerChannelIsOnlyForItsUser(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	s, out := openSocket(t, h, a)
	check := func(channel, wantType string, wantStatus int) {
		t.Helper()
		out.reset()
		s.Handle(subscribeMsg(channel))
		typ, msg, status := subscriptionError(t, out.last(t))
		if typ != wantType || status != wantStatus || msg == "" {
			t.Fatalf("%s: %s %d %q", channel, typ, status, msg)
		}
	}
	check("#server-to-user-1", "AuthError", 403)
	s.Handle(signinMsg(s, `{"id":"1"}`))
	check("#server-to-user-2", "AuthError", 403)
	check("#server-to-user", "InvalidChannel", 400)
	out.reset()
	s.Handle(subscribeMsg("#server-to-user-1"))
	if m := out.last(t); m.Event != "pusher_internal:subscription_succeeded" || m.Channel != "#server-to-user-1" {
		t.Fatalf("own channel: %+v", m)
	}
}

func TestWhichChannelsCountSubscriptions(t *testing.T) {
	_, off := newTestHub(t, AppConfig{})
	_, on := newTestHub(t, AppConfig{SubscriptionCountEvents: true})
	for name, want := range map[string]bool{"room": true, "private-x": true, "cache-x": true, "private-encrypted-x": true,
		"presence-x": false, "presence-cache-x": false, "#server-to-user-1": false} {
		if got := on.countsSubscriptions(name); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
		if off.countsSubscriptions(name) {
			t.Errorf("%s counted on an app without subscription_count_events", name)
		}
	}
	off.markCountChanged("room")
	on.markCountChanged("room")
	on.markCountChanged("presence-x")
	if len(off.counts.changed) != 0 || len(on.counts.changed) != 1 {
		t.Fatalf("marked: off %v, on %v", off.counts.changed, on.counts.changed)
	}
}

func TestCheckSigninClosesOnlyUnsignedSocketsPastTheTimeout(t *testing.T) {
	h, a := newTestHub(t, AppConfig{UserAuthenticationTimeout: 3})
	unsigned, uout := openSocket(t, h, a)
	signed, sout := openSocket(t, h, a)
	signed.Handle(signinMsg(signed, `{"id":"1"}`))
	if signed.user() == nil {
		t.Fatal("sign-in failed")
	}
	opened := int64(unsigned.more.opened)
	// The sweep's tick can read a second before the socket opened.
	if unsigned.CheckSignin(opened-1) || uout.kicked {
		t.Fatal("closed by a sweep whose clock read before the socket opened")
	}
	if unsigned.CheckSignin(opened+2) || uout.kicked {
		t.Fatal("closed before user_authentication_timeout")
	}
	if signed.CheckSignin(opened+60) || sout.kicked {
		t.Fatal("a signed-in socket was closed")
	}
	if !unsigned.CheckSignin(opened+3) || !uout.kicked {
		t.Fatal("an unsigned socket was not closed at user_authentication_timeout")
	}
	// A closed session is left alone (and referenced by nothing).
	closed, cout := openSocket(t, h, a)
	closed.Close()
	if closed.CheckSignin(opened+60) || cout.kicked {
		t.Fatal("a closed session was kicked")
	}
	// Without the setting nothing is ever closed.
	h2, a2 := newTestHub(t, AppConfig{})
	free, fout := openSocket(t, h2, a2)
	if free.CheckSignin(1_000_000_000) || fout.kicked {
		t.Fatal("closed without user_authentication_timeout")
	}
}
