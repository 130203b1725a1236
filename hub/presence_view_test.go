package hub

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resound/resound/protocol"
)

var userIDPattern = regexp.MustCompile(`user_id\\*":\\*"(u\d+)`)

// newsRecorder is a socket's outbox that keeps what it was sent.
type newsRecorder struct {
	mu  sync.Mutex
	got []string
}

func (r *newsRecorder) Send(frames ...[]byte) {
	r.mu.Lock()
	for _, f := range frames {
		r.got = append(r.got, string(f))
	}
	r.mu.Unlock()
}
func (r *newsRecorder) Kick(int, string) {}

// events lists "event user" for presence news sent after subscription_succeeded.
func (r *newsRecorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.got {
		for _, ev := range []string{"member_added", "member_removed"} {
			if strings.Contains(f, `"pusher_internal:`+ev+`"`) {
				if m := userIDPattern.FindStringSubmatch(f); m != nil {
					out = append(out, ev+" "+m[1])
				}
			}
		}
	}
	return out
}

func (r *newsRecorder) wait(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r.mu.Lock()
		for _, f := range r.got {
			if strings.Contains(f, substr) {
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("never got %s; got %v", substr, r.got)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testHub is a hub whose presence goes through a shared store (an
// in-memory one), as a node of a cluster: its channels keep a view.
func testHub(t *testing.T) (*Hub, *App) {
	h, err := New([]AppConfig{{ID: "app", Key: "key", Secret: "secret"}}, Options{Frame: func(p []byte) []byte { return p }, Presence: NewMemoryPresence()})
	if err != nil {
		t.Fatal(err)
	}
	h.AttachLoop(0, inlineExecutor{})
	t.Cleanup(func() { _ = h.Close() })
	return h, h.apps["app"]
}

// joinAs opens a socket and subscribes it to a presence channel as uid.
func joinAs(t *testing.T, h *Hub, a *App, channel, uid string) (*Session, *newsRecorder) {
	r := &newsRecorder{}
	s, _, _ := h.Open(a, 0, r)
	data := `{"user_id":"` + uid + `"}`
	auth := a.Key + ":" + protocol.SignChannel(a.Secret, s.ID(), channel, data)
	s.Handle([]byte(fmt.Sprintf(`{"event":"pusher:subscribe","data":{"channel":%q,"auth":%q,"channel_data":%q}}`, channel, auth, data)))
	r.wait(t, "subscription_succeeded")
	return s, r
}

func channelOf(t *testing.T, a *App, name string) *Channel {
	a.mu.RLock()
	defer a.mu.RUnlock()
	ch := a.channels.get(name)
	if ch == nil {
		t.Fatalf("no channel %s", name)
	}
	return ch
}

func TestViewAppliesNewsSetWise(t *testing.T) {
	h, a := testHub(t)
	_, r := joinAs(t, h, a, "presence-v", "u1")
	ch := channelOf(t, a, "presence-v")
	base := ch.viewVersion
	news := func(v int64, uid string, added bool) {
		h.applyNews(MemberNews{App: "app", Channel: "presence-v", UserID: uid, Member: `{"user_id":"` + uid + `"}`, Added: added, Version: base + v})
	}
	news(1, "u2", true)
	news(2, "u2", true)  // already in the view: nothing
	news(3, "u3", false) // not in the view: nothing
	news(2, "u4", true)  // older than the view: stale
	news(4, "u2", false)
	news(5, "u2", false) // gone already: nothing
	if got := fmt.Sprint(r.events()); got != "[member_added u2 member_removed u2]" {
		t.Fatalf("socket heard %s", got)
	}
}

func TestViewLoadsFromTheJoinListAndAppliesOnlyNewerEarlyNews(t *testing.T) {
	h, a := testHub(t)
	ch := newClusterChannel("presence-e", protocol.KindOf("presence-e"), 1)
	ch.early = new([]MemberNews)
	for _, n := range []MemberNews{
		{UserID: "u1", Member: `{"user_id":"u1"}`, Added: true, Version: 10}, // in the list already
		{UserID: "u2", Member: `{"user_id":"u2"}`, Added: false, Version: 11},
		{UserID: "u3", Member: `{"user_id":"u3"}`, Added: true, Version: 12},
	} {
		*ch.early = append(*ch.early, n)
	}
	a.loadView(ch, PresenceList{Members: []string{`{"user_id":"u1"}`, `{"user_id":"u2"}`}, Version: 10})
	if ch.view.has("u2") {
		t.Fatal("u2 left after the list and is still in the view")
	}
	if !ch.view.has("u3") || ch.view.len() != 2 || ch.viewVersion != 12 || ch.seq != 2 {
		t.Fatalf("view %v at %d seq %d", ch.view.entries, ch.viewVersion, ch.seq)
	}
	_ = h
}

func TestReconcileTellsExactlyTheDifference(t *testing.T) {
	h, a := testHub(t)
	_, r := joinAs(t, h, a, "presence-r", "u1")
	ch := channelOf(t, a, "presence-r")
	ch.mu.Lock()
	ch.viewPutLocked(protocol.Member{ID: "u2", IDJSON: []byte(`"u2"`)})
	n := a.applyTruthLocked(ch, PresenceList{Members: []string{`{"user_id":"u1"}`, `{"user_id":"u3"}`}, Version: ch.viewVersion + 5})
	again := a.applyTruthLocked(ch, PresenceList{Members: []string{`{"user_id":"u1"}`, `{"user_id":"u3"}`}, Version: ch.viewVersion})
	ch.mu.Unlock()
	if n != 2 || again != 0 {
		t.Fatalf("told %d then %d changes, want 2 then 0", n, again)
	}
	if got := fmt.Sprint(r.events()); got != "[member_removed u2 member_added u3]" {
		t.Fatalf("socket heard %s", got)
	}
}

func TestJoinerSkipsNewsItsListHad(t *testing.T) {
	h, a := testHub(t)
	_, r1 := joinAs(t, h, a, "presence-j", "u1")
	_, r2 := joinAs(t, h, a, "presence-j", "u2")
	// u1 hears u2 once; u2's list had u1, so u2 hears nothing.
	if got := fmt.Sprint(r1.events()); got != "[member_added u2]" {
		t.Fatalf("u1 heard %s", got)
	}
	if got := fmt.Sprint(r2.events()); got != "[]" {
		t.Fatalf("u2 heard %s", got)
	}
	// A held frame the list already reflects is dropped on confirm.
	s3 := &Session{app: a, out: &newsRecorder{}}
	ch := channelOf(t, a, "presence-j")
	pj := &subState{joining: true, held: []heldFrame{{[]byte("old"), ch.seq}, {[]byte("new"), ch.seq + 1}}}
	s3.addSub(subscription{ch: ch, st: pj})
	s3.joining = 1
	s3.confirm(ch, pj)
	got := s3.out.(*newsRecorder).got
	if len(got) != 2 || !strings.Contains(got[0], "subscription_succeeded") || got[1] != "new" {
		t.Fatalf("confirm sent %q", got)
	}
}

func TestOfflineJoinAndLeaveAreToldLocallyOnce(t *testing.T) {
	h, a := testHub(t)
	_, r := joinAs(t, h, a, "presence-o", "u1")
	ch := channelOf(t, a, "presence-o")
	u2 := protocol.Member{ID: "u2", IDJSON: []byte(`"u2"`)}
	ch.addMember(u2)
	a.joinedOffline(ch, u2)
	a.joinedOffline(ch, u2)
	a.leftOffline(ch, "u2") // u2 still has a socket here: stays
	ch.removeMember("u2")
	a.leftOffline(ch, "u2")
	a.leftOffline(ch, "u2")
	if got := fmt.Sprint(r.events()); got != "[member_added u2 member_removed u2]" {
		t.Fatalf("socket heard %s", got)
	}
}
