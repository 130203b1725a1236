package hub

import (
	"math/rand/v2"
	"testing"
)

// The index counts like a map of (user, socket) to subscriptions, whichever
// occurrence leaves first, and lists each socket of a user once.
func TestPresenceUsersMatchesACount(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sockets := make([]*Session, 6)
	for i := range sockets {
		sockets[i] = &Session{}
	}
	ids := []string{"a", "b", "c"}
	type key struct {
		id string
		s  *Session
	}
	var u presenceUsers
	want := map[key]int{}
	for step := range 20000 {
		k := key{ids[rng.IntN(len(ids))], sockets[rng.IntN(len(sockets))]}
		if want[k] > 0 && rng.IntN(2) == 0 {
			u.remove(k.id, k.s)
			if want[k]--; want[k] == 0 {
				delete(want, k)
			}
		} else {
			u.add(k.id, k.s)
			want[k]++
		}
		for _, id := range ids {
			got := u.sockets(id)
			n := 0
			for k := range want {
				if k.id == id {
					n++
					if !containsSession(got, k.s) {
						t.Fatalf("step %d: a socket of %s is not listed", step, id)
					}
				}
			}
			if len(got) != n {
				t.Fatalf("step %d: %s lists %d sockets, want %d", step, id, len(got), n)
			}
			if _, kept := u.more[id]; kept && len(u.more[id]) == 0 {
				t.Fatalf("step %d: an empty list is kept for %s", step, id)
			}
		}
	}
	for k, n := range want {
		for range n {
			u.remove(k.id, k.s)
		}
	}
	if len(u.one) != 0 || len(u.more) != 0 {
		t.Fatalf("emptied index keeps %d users and %d lists", len(u.one), len(u.more))
	}
}

func containsSession(list []*Session, s *Session) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A shared user_id ("guest") with many sockets: adding, listing and
// removing cost the same per socket however many share it (this was
// quadratic with a list per user).
func BenchmarkPresenceUsersSharedID(b *testing.B) {
	sockets := make([]*Session, 20000)
	for i := range sockets {
		sockets[i] = &Session{}
	}
	for b.Loop() {
		var u presenceUsers
		for _, s := range sockets {
			u.add("guest", s)
		}
		if len(u.sockets("guest")) != len(sockets) {
			b.Fatal("a socket is missing")
		}
		for _, s := range sockets {
			u.remove("guest", s)
		}
	}
}
