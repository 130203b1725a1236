package hub

import (
	"regexp"
	"testing"
)

var pusherSocketID = regexp.MustCompile(`\A\d+\.\d+\z`)

func TestSocketIDFindsItsSessionAndNothingElse(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	seen := map[string]bool{}
	var live []*Session
	for range 200 {
		s, _ := openSocket(t, h, a)
		id := s.ID()
		if !pusherSocketID.MatchString(id) {
			t.Fatalf("socket id %q is not what Pusher clients accept", id)
		}
		if seen[id] {
			t.Fatalf("socket id %q given twice", id)
		}
		seen[id] = true
		live = append(live, s)
	}
	for _, s := range live {
		a.mu.RLock()
		got := a.sockets.find(s.ID())
		a.mu.RUnlock()
		if got != s {
			t.Fatalf("id %s found %p, want its session %p", s.ID(), got, s)
		}
	}
	// A closed socket's id finds nothing, even once its slot is reused.
	gone := live[7]
	goneID := gone.ID()
	gone.Close()
	next, _ := openSocket(t, h, a)
	if next.slot != gone.slot {
		t.Fatalf("slot %d not reused (got %d)", gone.slot, next.slot)
	}
	if next.ID() == goneID {
		t.Fatal("a reused slot gave the same socket id again")
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if s := a.sockets.find(goneID); s != nil {
		t.Fatalf("the closed socket's id %s still finds a session", goneID)
	}
	if a.sockets.find(next.ID()) != next {
		t.Fatal("the session in the reused slot is not found by its id")
	}
	if n := a.sockets.len(); n != 200 {
		t.Fatalf("table holds %d sessions, want 200", n)
	}
}

func TestMadeUpSocketIDsFindNothing(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	s, _ := openSocket(t, h, a)
	id := s.ID()
	dot := 0
	for id[dot] != '.' {
		dot++
	}
	for _, bad := range []string{"", ".", "1.", ".1", "1.2", "0." + id[dot+1:], "0" + id, id + "0",
		id[:dot] + ".0" + id[dot+1:], "+" + id, id + " ", "4294967296.1", "99999999999.1", "1.2.3", "a.b"} {
		if bad == id {
			continue
		}
		if got := a.sockets.find(bad); got != nil {
			t.Errorf("made-up id %q found a session", bad)
		}
	}
}

func TestSocketIDScrambleIsAPermutation(t *testing.T) {
	tab := newSocketTable()
	for _, c := range [][2]uint32{{0, 0}, {1, 0}, {0, 1}, {1<<32 - 1, 1<<32 - 1}, {12345, 678}} {
		hi, lo := tab.scramble(c[0], c[1])
		if tag, slot := tab.unscramble(hi, lo); tag != c[0] || slot != c[1] {
			t.Fatalf("unscramble(scramble(%d, %d)) = %d, %d", c[0], c[1], tag, slot)
		}
	}
	// Consecutive slots with the same tag give unrelated-looking ids.
	a1, b1 := tab.scramble(7, 1)
	a2, b2 := tab.scramble(7, 2)
	if a1 == a2 || b1 == b2 {
		t.Fatalf("neighbouring slots share half their id: %d.%d and %d.%d", a1, b1, a2, b2)
	}
}
