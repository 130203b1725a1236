package hub

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/resound/resound/protocol"
)

// A channel keeps a subscriber set only for loops where it has subscribers:
// with one subscriber, a node with many loops pays for one set, not one per
// loop.
func TestChannelSetsOnlyOnLoopsWithSubscribers(t *testing.T) {
	app := AppConfig{ID: "app", Key: "key", Secret: "secret"}
	h, err := New([]AppConfig{app}, Options{Loops: 4, Frame: func(p []byte) []byte { return p }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		h.AttachLoop(i, inlineExecutor{})
	}
	t.Cleanup(func() { _ = h.Close() })
	a := h.AppByID("app")
	s, code, msg := h.Open(a, 2, &recordingOutbox{})
	if s == nil {
		t.Fatalf("open refused: %d %s", code, msg)
	}
	other, _, _ := h.Open(a, 2, &recordingOutbox{})
	s.Handle(subscribeMsg("room"))
	other.Handle(subscribeMsg("room"))
	ch := s.subList()[0].ch
	var one [1]*Session
	for i := range int(ch.nloops) {
		if want := i == 2; ch.loop(i).occupied() != want {
			t.Fatalf("loop %d has subscribers: %v, want %v", i, ch.loop(i).occupied(), want)
		}
	}
	if n := len(ch.loop(2).list(&one)); n != 2 || ch.loop(2).size() != 2 || ch.loop(2).set() == nil {
		t.Fatalf("loop 2 holds %d subscribers (size %d), want 2 in a set", n, ch.loop(2).size())
	}
	s.Handle(unsubscribeMsg("room"))
	if list := ch.loop(2).list(&one); len(list) != 1 || list[0] != other {
		t.Fatal("the remaining subscriber is gone")
	}
	other.Handle(unsubscribeMsg("room"))
	if ch.loop(2).occupied() || ch.loop(2).size() != 0 {
		t.Fatal("an empty set is kept")
	}
}

// Every socket has a Session: it must stay in the 96-byte size class.
func TestSessionFits96Bytes(t *testing.T) {
	if size := unsafe.Sizeof(Session{}); size > 96 {
		t.Fatalf("Session is %d bytes, past the 96-byte size class", size)
	}
}

// After a flush the staged frames are released: an idle socket must not
// keep the last broadcast alive.
func TestFlushReleasesStagedFrames(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	s, out := openSocket(t, h, a)
	d := h.loops[0]
	d.stage(s, []byte("frame"))
	d.flush(s)
	if len(out.frames) != 1 {
		t.Fatalf("flush sent %d frames, want 1", len(out.frames))
	}
	if len(s.pending) != 0 || (cap(s.pending) > 0 && s.pending[:1][0] != nil) {
		t.Fatal("the staging array still holds the sent frame")
	}
}

// The set keeps every member exactly once through adds and removals on
// both sides of the size where it starts indexing positions.
func TestSessionSetAddRemove(t *testing.T) {
	var st sessionSet
	all := make([]*Session, 100)
	in := map[*Session]bool{}
	check := func(step string) {
		t.Helper()
		if st.size() != len(in) {
			t.Fatalf("%s: size %d, want %d", step, st.size(), len(in))
		}
		seen := map[*Session]bool{}
		for i, s := range st.list {
			if !in[s] || seen[s] {
				t.Fatalf("%s: member %d wrong or repeated", step, i)
			}
			seen[s] = true
			if st.pos != nil && st.pos[s] != int32(i) {
				t.Fatalf("%s: position of member %d is %d", step, i, st.pos[s])
			}
		}
		if st.pos != nil && len(st.pos) != len(in) {
			t.Fatalf("%s: index has %d entries for %d members", step, len(st.pos), len(in))
		}
	}
	for i := range all {
		all[i] = &Session{}
		st.add(all[i])
		in[all[i]] = true
		check("add")
	}
	if st.pos == nil {
		t.Fatal("a large set has no position index")
	}
	for i := 0; i < len(all); i += 3 { // from the middle, the front and the back
		st.remove(all[i])
		delete(in, all[i])
		check("remove")
	}
	st.remove(&Session{}) // not a member: nothing changes
	check("remove a stranger")
	for i := range all {
		if in[all[i]] {
			st.remove(all[i])
			delete(in, all[i])
			check("remove rest")
		}
	}
	if st.pos != nil || st.size() != 0 {
		t.Fatal("an emptied set kept its index")
	}
}

// A public or private channel must not carry the presence member list's
// fields: they are most channels.
func TestChannelWithoutPresenceStateIsSmall(t *testing.T) {
	if size := unsafe.Sizeof(Channel{}); size > 48 {
		t.Fatalf("Channel is %d bytes; presence-only fields belong in presenceState", size)
	}
	// With its loops' subscribers in the same object: 64 B for two loops,
	// where two objects took 64 and 32.
	if size := channelType(2, false).Size(); size > 64 {
		t.Fatalf("a channel with 2 loops is %d bytes, past the 64-byte size class", size)
	}
	// A presence channel's member state is in the same object too.
	if size := channelType(2, true).Size(); size > 112 {
		t.Fatalf("a presence channel with 2 loops is %d bytes, past the 112-byte size class", size)
	}
	if size := unsafe.Sizeof(loopSubscribers{}); size > 8 {
		t.Fatalf("a loop's slot in every channel is %d bytes", size)
	}
	if ch := newChannel("private-a", protocol.KindOf("private-a"), 2); ch.presenceState != nil {
		t.Fatal("a private channel got presence state")
	}
	if ch := newChannel("presence-a", protocol.KindOf("presence-a"), 2); ch.presenceState == nil {
		t.Fatal("a presence channel has no member state")
	}
}

// Every subscription has a record, every presence channel a member state:
// both must stay small (32 bytes, and 40 allocated with the Channel).
func TestSubscriptionAndPresenceStateSizes(t *testing.T) {
	if size := unsafe.Sizeof(subscription{}); size > 32 {
		t.Fatalf("subscription is %d bytes; what only joining or cache subscriptions need belongs in subState", size)
	}
	if size := unsafe.Sizeof(presenceState{}); size > 40 {
		t.Fatalf("presenceState is %d bytes", size)
	}
}

// A loop's subscribers of a channel: the first is kept in place, a set is
// made for the second and dropped again when one is left; every subscriber
// is listed once whichever leaves first, and a stranger's leave changes
// nothing.
func TestLoopSubscribersAddRemove(t *testing.T) {
	var ls loopSubscribers
	var one [1]*Session
	all := make([]*Session, 40)
	for i := range all {
		all[i] = &Session{}
	}
	check := func(step string, want []*Session) {
		t.Helper()
		list := ls.list(&one)
		if len(list) != len(want) || ls.size() != len(want) || ls.occupied() != (len(want) > 0) {
			t.Fatalf("%s: %d listed, size %d, occupied %v, want %d", step, len(list), ls.size(), ls.occupied(), len(want))
		}
		if (ls.set() != nil) != (len(want) > 1) {
			t.Fatalf("%s: a set for %d subscribers: %v", step, len(want), ls.set() != nil)
		}
		in := map[*Session]bool{}
		for _, s := range list {
			in[s] = true
		}
		for _, s := range want {
			if !in[s] {
				t.Fatalf("%s: a subscriber is missing", step)
			}
		}
		if len(want) == 1 && (*Session)(ls.subs) != want[0] {
			t.Fatalf("%s: a lone subscriber is not kept in place", step)
		}
	}
	for n := 1; n <= len(all); n++ {
		ls.add(all[n-1])
		check("add", all[:n])
	}
	ls.remove(&Session{})
	check("remove a stranger", all)
	for n := len(all) - 1; n >= 0; n-- {
		ls.remove(all[0]) // the first, then each next: swaps reach every place
		all = all[1:]
		check("remove", all)
		ls.remove(&Session{})
		check("remove a stranger", all)
	}
	if ls.subs != nil {
		t.Fatal("an empty loop keeps its subscribers")
	}
}

// A local member keeps the user_id as text and whether it was a number;
// the member it gives back is the one protocol.DecodeMember gave, and a
// socket with other user_info is not taken for the same member.
func TestLocalMemberGivesBackTheDecodedMember(t *testing.T) {
	for _, data := range []string{
		`{"user_id":42}`,
		`{"user_id":-1.5e3,"user_info":{"a":1}}`,
		`{"user_id":"u1","user_info":null}`,
		`{"user_id":"a\"quote\\ \u2028 ü <b>","user_info":[1,"two"]}`,
		`{"user_id":"42"}`,
	} {
		m, err := protocol.DecodeMember(data)
		if err != nil {
			t.Fatal(err)
		}
		lm := newLocalMember(m)
		got := lm.member()
		if got.ID != m.ID || string(got.IDJSON) != string(m.IDJSON) || string(got.Info) != string(m.Info) || (got.Info == nil) != (m.Info == nil) {
			t.Fatalf("%s: got %q %s %s, want %q %s %s", data, got.ID, got.IDJSON, got.Info, m.ID, m.IDJSON, m.Info)
		}
		if !lm.sameAs(m) {
			t.Fatalf("%s: not the same as itself", data)
		}
		other := m
		other.Info = []byte(`{"other":true}`)
		if lm.sameAs(other) {
			t.Fatalf("%s: other user_info taken for the same member", data)
		}
	}
	// "42" the string and 42 the number are different user_id JSON.
	n, _ := protocol.DecodeMember(`{"user_id":42}`)
	s, _ := protocol.DecodeMember(`{"user_id":"42"}`)
	if newLocalMember(n).sameAs(s) {
		t.Fatal("a string id taken for the same number")
	}
}

// The subscribers that follow a Channel in its allocation are seen by the
// collector, on every loop and for each loop count: a lone session kept in
// place, and sessions held only by a set behind a tagged pointer.
func TestChannelLoopsKeepTheirSubscribersAlive(t *testing.T) {
	for _, loops := range []int{1, 2, 3, 8} {
		ch := newChannel("private-gc", protocol.KindOf("private-gc"), loops)
		freed := make(chan int, 3*loops)
		for i := range loops {
			for range 1 + i%2 { // odd loops get a set
				s := &Session{loop: int32(i)}
				runtime.SetFinalizer(s, func(*Session) { freed <- i })
				ch.loop(i).add(s)
			}
		}
		for range 3 {
			runtime.GC()
		}
		select {
		case i := <-freed:
			t.Fatalf("%d loops: a subscriber on loop %d was collected while its channel lives", loops, i)
		default:
		}
		for i := range loops {
			var one [1]*Session
			l := ch.loop(i).list(&one)
			if len(l) != 1+i%2 {
				t.Fatalf("%d loops: loop %d lists %d subscribers, want %d", loops, i, len(l), 1+i%2)
			}
			for _, s := range l {
				if s.loop != int32(i) {
					t.Fatalf("%d loops: loop %d lists a subscriber of loop %d", loops, i, s.loop)
				}
			}
		}
		runtime.KeepAlive(ch)
	}
}
