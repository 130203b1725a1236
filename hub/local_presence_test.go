package hub

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/resound/resound/webhook"
)

// memberHooks records webhook events with their user.
type memberHooks struct{ got []string }

func (r *memberHooks) Wants(string, string) bool { return true }
func (r *memberHooks) Emit(ev webhook.Event) {
	r.got = append(r.got, strings.TrimSpace(ev.Name+" "+ev.Channel+" "+ev.UserID))
}

// presenceScript drives one node through joins and leaves of a presence
// channel (a user with two sockets, a numeric id without user_info) and
// returns what its sockets, its webhooks and its HTTP API saw, in order.
func presenceScript(t *testing.T, store Presence) []string {
	hooks := &memberHooks{}
	h, err := New([]AppConfig{{ID: "app", Key: "key", Secret: "secret"}},
		Options{Loops: 1, Frame: func(p []byte) []byte { return p }, Presence: store, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	h.AttachLoop(0, inlineExecutor{})
	t.Cleanup(func() { _ = h.Close() })
	a := h.AppByID("app")
	const room = "presence-room"
	ctx := context.Background()
	var log []string
	api := func() {
		info, err := a.Channel(ctx, room)
		users, uerr := a.Users(ctx, room)
		if err != nil || uerr != nil {
			t.Fatal(err, uerr)
		}
		log = append(log, fmt.Sprintf("api: occupied %v, %d subscriptions, %d users %v", info.Occupied, info.SubscriptionCount, info.UserCount, users))
	}
	type sock struct {
		s   *Session
		out *recordingOutbox
	}
	var socks []sock
	join := func(data string) {
		s, out := openSocket(t, h, a)
		s.Handle(presenceSubscribeData(s, room, data))
		socks = append(socks, sock{s, out})
	}
	heard := func() {
		for i, k := range socks {
			k.out.mu.Lock()
			for _, f := range k.out.frames {
				log = append(log, fmt.Sprintf("socket %d: %s", i, f))
			}
			k.out.frames = nil
			if k.out.kicked {
				log = append(log, fmt.Sprintf("socket %d: kicked", i))
				k.out.kicked = false
			}
			k.out.mu.Unlock()
		}
		log = append(log, hooks.got...)
		hooks.got = nil
		api()
	}
	join(`{"user_id":"u1","user_info":{"name":"One \"1\""}}`)
	heard()
	join(`{"user_id":"u2","user_info":{"n":2}}`)
	heard()
	join(`{"user_id":"u2","user_info":{"n":2}}`) // u2's second socket
	heard()
	join(`{"user_id":7}`)
	heard()
	socks[1].s.Handle(unsubscribeMsg(room)) // u2 keeps a socket
	heard()
	socks[2].s.Close() // u2's last
	heard()
	a.terminateLocal("7")
	heard()
	socks[3].s.Close()
	socks[0].s.Close()
	heard()
	return log
}

// On a single node the channel's members are the member set: the joiners'
// lists, the news each socket hears, the webhooks and the HTTP API are
// exactly those of a node that keeps them in a shared store and a view.
func TestSingleNodePresenceMatchesTheStore(t *testing.T) {
	local := presenceScript(t, nil)
	stored := presenceScript(t, NewMemoryPresence())
	if !slices.Equal(local, stored) {
		t.Fatalf("a single node saw\n%s\n\nwith a store\n%s", strings.Join(local, "\n"), strings.Join(stored, "\n"))
	}
	// And what they both saw is right.
	all := strings.Join(local, "\n")
	for _, want := range []string{
		`socket 0: {"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":\"u2\",\"user_info\":{\"n\":2}}"}`,
		`socket 3: {"event":"pusher_internal:subscription_succeeded","channel":"presence-room","data":"{\"presence\":{\"count\":3,\"ids\":[\"u1\",\"u2\",7],\"hash\":{\"u1\":{\"name\":\"One \\\"1\\\"\"},\"u2\":{\"n\":2},\"7\":null}}}"}`,
		`socket 0: {"event":"pusher_internal:member_removed","channel":"presence-room","data":"{\"user_id\":\"u2\"}"}`,
		`member_added presence-room u2`, `member_removed presence-room u2`, `member_removed presence-room 7`,
		`api: occupied true, 3 subscriptions, 3 users [7 u1 u2]`, `api: occupied true, 2 subscriptions, 2 users [7 u1]`,
		`socket 3: kicked`,
		`api: occupied false, 0 subscriptions, 0 users []`,
	} {
		if !strings.Contains(all, want) {
			t.Fatalf("never saw %s in\n%s", want, all)
		}
	}
	if n := strings.Count(all, "member_added presence-room u2"); n != 1 {
		t.Fatalf("member_added for u2 %d times", n)
	}
	if n := strings.Count(all, `member_removed","channel":"presence-room","data":"{\"user_id\":\"u2\"}`); n != 2 {
		t.Fatalf("member_removed for u2 reached %d sockets, want u1's and 7's", n)
	}
}

// A single node keeps a presence channel's members once: in the channel,
// with no view of them and no record in the store.
func TestSingleNodeKeepsPresenceMembersOnce(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	lp, ok := h.presence.(localPresence)
	if !ok || !h.localPresence {
		t.Fatalf("a hub without shared state keeps presence in %T", h.presence)
	}
	s, _ := openSocket(t, h, a)
	s.Handle(presenceSubscribeMsg(s, "presence-room", 1, `{}`))
	ch := s.subList()[0].ch
	if ch.hasView() || ch.members.len() != 1 {
		t.Fatalf("view kept: %v, %d members", ch.hasView(), ch.members.len())
	}
	lp.MemoryPresence.mu.Lock()
	stored := len(lp.MemoryPresence.channels)
	lp.MemoryPresence.mu.Unlock()
	if stored != 0 {
		t.Fatalf("the store keeps %d apps' presence channels too", stored)
	}
}

// A user alone on a channel has nobody to tell: the join and the leave
// frame only the member list, not news for no one.
func TestLoneMemberFramesNoNews(t *testing.T) {
	frames := 0
	h, err := New([]AppConfig{{ID: "app", Key: "key", Secret: "secret"}},
		Options{Loops: 1, Frame: func(p []byte) []byte { frames++; return p }})
	if err != nil {
		t.Fatal(err)
	}
	h.AttachLoop(0, inlineExecutor{})
	t.Cleanup(func() { _ = h.Close() })
	a := h.AppByID("app")
	s, out := openSocket(t, h, a)
	s.Handle(presenceSubscribeMsg(s, "presence-alone", 1, `{}`))
	s.Handle(unsubscribeMsg("presence-alone"))
	if frames != 1 || len(out.frames) != 1 {
		t.Fatalf("framed %d payloads and sent %d, want the member list only", frames, len(out.frames))
	}
	// With someone to tell, both are framed.
	s2, _ := openSocket(t, h, a)
	s.Handle(presenceSubscribeMsg(s, "presence-two", 1, `{}`))
	s2.Handle(presenceSubscribeMsg(s2, "presence-two", 2, `{}`))
	s2.Handle(unsubscribeMsg("presence-two"))
	if frames != 5 {
		t.Fatalf("framed %d payloads, want 5 (three lists, news of a join and a leave)", frames)
	}
}

// The app's max_presence_members_per_channel counts users on a single
// node as the store would: a new user past it is refused and leaves
// nothing behind, a member's other socket is let in.
func TestSingleNodePresenceLimit(t *testing.T) {
	h, a := newTestHub(t, AppConfig{MaxPresenceMembersPerChannel: 2})
	const room = "presence-full"
	for id := 1; id <= 2; id++ {
		s, _ := openSocket(t, h, a)
		s.Handle(presenceSubscribeMsg(s, room, id, `{}`))
	}
	s3, out3 := openSocket(t, h, a)
	s3.Handle(presenceSubscribeMsg(s3, room, 3, `{}`))
	if got := string(out3.frames[len(out3.frames)-1]); !strings.Contains(got, "LimitReached") || !strings.Contains(got, "max_presence_members_per_channel of 2") {
		t.Fatalf("third user got %s", got)
	}
	again, out := openSocket(t, h, a)
	again.Handle(presenceSubscribeMsg(again, room, 2, `{}`))
	if p := decodePresence(t, out.frames[len(out.frames)-1]); p.Presence.Count != 2 {
		t.Fatalf("a member's second socket got %+v", p)
	}
	ch := channelOf(t, a, room)
	a.mu.RLock()
	subs := ch.subscriptions
	a.mu.RUnlock()
	if int(s3.nsubs) != 0 || subs != 3 || ch.members.has("3") || a.users.sockets("3") != nil {
		t.Fatalf("the refused join left %d subscriptions, the channel %d, member %v", int(s3.nsubs), subs, ch.members.has("3"))
	}
}

// The records every presence subscription and channel pay for stay in
// their size classes: a member record in 24 B, and a presence Channel
// with its state in one 96 B allocation.
func TestPresenceRecordsKeepTheirSizeClasses(t *testing.T) {
	if n := unsafe.Sizeof(localMember{}); n > 24 {
		t.Errorf("localMember is %d B, over 24", n)
	}
	if n := unsafe.Sizeof(struct {
		Channel
		presenceState
	}{}); n > 96 {
		t.Errorf("a presence Channel with its state is %d B, over 96", n)
	}
}

// Two loops joining and leaving as the same user at once: a watcher hears
// the user come and go in turn, never twice the same way, and gone at the
// end.
func TestSingleNodeNewsAlternatesAcrossLoops(t *testing.T) {
	h, err := New([]AppConfig{{ID: "app", Key: "key", Secret: "secret"}}, Options{Loops: 2, Frame: func(p []byte) []byte { return p }})
	if err != nil {
		t.Fatal(err)
	}
	loops := []*testLoop{newTestLoop(t), newTestLoop(t)}
	h.AttachLoop(0, loops[0])
	h.AttachLoop(1, loops[1])
	t.Cleanup(func() { _ = h.Close() })
	a := h.AppByID("app")
	const room = "presence-busy"
	watcher := &newsRecorder{}
	loops[0].do(func() {
		s, _, _ := h.Open(a, 0, watcher)
		s.Handle(presenceSubscribeData(s, room, `{"user_id":"u1"}`))
	})
	var wg sync.WaitGroup
	for i, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				l.do(func() {
					s, _, _ := h.Open(a, i, &newsRecorder{})
					s.Handle(presenceSubscribeData(s, room, `{"user_id":"u2"}`))
					s.Handle(unsubscribeMsg(room))
					s.Close()
				})
			}
		}()
	}
	wg.Wait()
	loops[1].do(func() {})
	loops[0].do(func() {})
	heard := watcher.events()
	if len(heard) == 0 || heard[len(heard)-1] != "member_removed u2" {
		t.Fatalf("the watcher heard %d changes, the last %v", len(heard), heard[max(len(heard)-1, 0):])
	}
	for i, ev := range heard {
		want := "member_added u2"
		if i%2 == 1 {
			want = "member_removed u2"
		}
		if ev != want {
			t.Fatalf("change %d the watcher heard is %s, want %s", i, ev, want)
		}
	}
}
