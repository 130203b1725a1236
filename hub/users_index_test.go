package hub

import (
	"math/rand/v2"
	"testing"
	"time"
)

// A mass disconnect of the sockets watching one popular user must cost
// O(1) each under App.mu, not a scan of the watcher list. Removing in
// reverse order of sign-in is the worst case for a scan from the front.
func TestSignoutOfManyWatchersOfOneUserDoesNotScan(t *testing.T) {
	_, a := newTestHub(t, AppConfig{})
	const n = 100_000
	socks := make([]*Session, n)
	users := make([]*signedIn, n)
	for i := range socks {
		socks[i] = &Session{}
		users[i] = &signedIn{id: "w", watchlist: []string{"popular", "other"}, told: make([]bool, 2)}
		a.indexUser(socks[i], users[i], true)
	}
	start := time.Now()
	for i := n - 1; i >= 0; i-- {
		a.indexUser(socks[i], users[i], false)
	}
	took := time.Since(start)
	t.Logf("%d sign-outs of watchers of one id: %v", n, took)
	if len(a.signins.watchers) != 0 || len(a.signins.byUser) != 0 {
		t.Fatalf("index not empty: %d watched ids, %d users", len(a.signins.watchers), len(a.signins.byUser))
	}
	// A scan costs n²/2 = 5e9 comparisons here (many seconds, minutes
	// under -race); the index costs well under a second even so.
	if took > 10*time.Second {
		t.Fatalf("%d sign-outs took %v: removal scans the watcher list", n, took)
	}
}

// Every watchlist entry records its place in the watched id's list: that
// record is what lets a sign-out remove it without a search. Checked after
// each step of a seeded churn of overlapping watchlists.
func TestWatcherIndexKnowsEachEntrysPlace(t *testing.T) {
	_, a := newTestHub(t, AppConfig{})
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"a", "b", "c", "d", "e"}
	live := map[*Session]*signedIn{}
	check := func(step int) {
		t.Helper()
		entries := 0
		for s, su := range live {
			for k, id := range su.watchlist {
				list := a.signins.watchers[id]
				if i := su.at[k]; int(i) >= len(list) || list[i].su != su || list[i].k != int32(k) || list[i].su.s != s {
					t.Fatalf("step %d: entry %d (%s) of a socket is not at its recorded place %d", step, k, id, i)
				}
			}
			entries += len(su.watchlist)
		}
		listed := 0
		for _, list := range a.signins.watchers {
			listed += len(list)
		}
		if listed != entries {
			t.Fatalf("step %d: %d entries listed, %d signed in", step, listed, entries)
		}
	}
	for step := range 2000 {
		if len(live) > 0 && rng.IntN(2) == 0 {
			for s, su := range live { // map order: any socket
				a.indexUser(s, su, false)
				delete(live, s)
				break
			}
		} else {
			var list []string
			for _, id := range ids {
				if rng.IntN(2) == 0 {
					list = append(list, id)
				}
			}
			s, su := &Session{}, &signedIn{id: "u", watchlist: list, told: make([]bool, len(list))}
			a.indexUser(s, su, true)
			live[s] = su
		}
		check(step)
	}
}
