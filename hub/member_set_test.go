package hub

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/resound/resound/protocol"
)

// A member set holds what a map would, in the order a smallMap keeps
// (puts in order, a remove moves the last into the gap), across the move
// between the member kept in place and the listed ones, and lets go of its
// list when it is down to one member.
func TestMemberSetMatchesASmallMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var set memberSet
	var want smallMap[string, *localMember]
	for step := range 20000 {
		id := "u" + strconv.Itoa(rng.IntN(20))
		if rng.IntN(2) == 0 {
			rec := newLocalMember(protocol.Member{ID: id, IDJSON: protocol.AppendString(nil, id)})
			set.put(rec)
			want.put(id, rec)
		} else {
			got, ok := set.remove(id)
			exp, expOK := want.remove(id)
			if ok != expOK || got != exp {
				t.Fatalf("step %d: remove %s gave %v %v, want %v %v", step, id, got, ok, exp, expOK)
			}
		}
		var order, wantOrder []*localMember
		for m := range set.all() {
			order = append(order, m)
		}
		for _, e := range want.entries {
			wantOrder = append(wantOrder, e.val)
		}
		if !slices.Equal(order, wantOrder) || set.len() != want.len() {
			t.Fatalf("step %d: %d members in another order than %d", step, set.len(), want.len())
		}
		if set.rest != nil && set.rest.len() == 0 || set.len() <= 1 && set.rest != nil {
			t.Fatalf("step %d: a list is kept for %d members", step, set.len())
		}
		for _, e := range want.entries {
			if got, ok := set.get(e.key); !ok || got != e.val || !set.has(e.key) {
				t.Fatalf("step %d: %s is not found", step, e.key)
			}
		}
		if set.has("nobody") {
			t.Fatalf("step %d: finds a member never put", step)
		}
	}
}
