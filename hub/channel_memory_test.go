package hub

import (
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
	ch := s.subs[0].ch
	for i, set := range ch.subs {
		if want := i == 2; (set != nil) != want {
			t.Fatalf("loop %d has a set: %v, want %v", i, set != nil, want)
		}
	}
	if ch.subs[2].size() != 2 || ch.loopCount[2].Load() != 2 {
		t.Fatalf("loop 2 holds %d subscribers (count %d), want 2", ch.subs[2].size(), ch.loopCount[2].Load())
	}
	s.Handle(unsubscribeMsg("room"))
	if ch.subs[2] == nil || ch.subs[2].size() != 1 || ch.subs[2].list[0] != other {
		t.Fatal("the remaining subscriber's set is gone")
	}
	other.Handle(unsubscribeMsg("room"))
	if ch.subs[2] != nil {
		t.Fatal("an empty set is kept")
	}
}

// Every socket has a Session: it must stay in the 112-byte size class.
func TestSessionFits112Bytes(t *testing.T) {
	if size := unsafe.Sizeof(Session{}); size > 112 {
		t.Fatalf("Session is %d bytes, past the 112-byte size class", size)
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
	if size := unsafe.Sizeof(Channel{}); size > 112 {
		t.Fatalf("Channel is %d bytes; presence-only fields belong in presenceState", size)
	}
	if ch := newChannel("private-a", protocol.KindOf("private-a"), 2); ch.presenceState != nil {
		t.Fatal("a private channel got presence state")
	}
	if ch := newChannel("presence-a", protocol.KindOf("presence-a"), 2); ch.presenceState == nil || ch.members == nil || ch.view == nil {
		t.Fatal("a presence channel has no member maps")
	}
}
