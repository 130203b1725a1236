package hub

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// smallMap answers like a Go map through random puts and removals that
// cross the size where it starts and stops indexing.
func TestSmallMapMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m smallMap[string, int]
	want := map[string]int{}
	check := func(step int) {
		t.Helper()
		if m.len() != len(want) {
			t.Fatalf("step %d: %d entries, want %d", step, m.len(), len(want))
		}
		if (m.index != nil) != (m.len() > smallMapMax) && m.len() > smallMapMax {
			t.Fatalf("step %d: %d entries without an index", step, m.len())
		}
		if m.index != nil && len(m.index) != m.len() {
			t.Fatalf("step %d: index has %d entries for %d", step, len(m.index), m.len())
		}
		seen := map[string]bool{}
		for i, e := range m.entries {
			if seen[e.key] {
				t.Fatalf("step %d: key %s twice", step, e.key)
			}
			seen[e.key] = true
			if v, ok := want[e.key]; !ok || v != e.val {
				t.Fatalf("step %d: %s=%d, want %d (present %v)", step, e.key, e.val, v, ok)
			}
			if m.index != nil && m.index[e.key] != int32(i) {
				t.Fatalf("step %d: index of %s is %d, not %d", step, e.key, m.index[e.key], i)
			}
		}
	}
	for step := range 20000 {
		// The key range moves so the map grows past the threshold and
		// shrinks back to empty several times.
		span := 2 + (step/2000%3)*40
		k := strconv.Itoa(rng.IntN(span))
		switch rng.IntN(3) {
		case 0, 1:
			if step/1000%2 == 0 {
				m.put(k, step)
				want[k] = step
			} else {
				_, had := want[k]
				v, ok := m.remove(k)
				if ok != had || (ok && v != want[k]) {
					t.Fatalf("step %d: remove %s = %d %v, want %d %v", step, k, v, ok, want[k], had)
				}
				delete(want, k)
			}
		case 2:
			v, ok := m.get(k)
			w, had := want[k]
			if ok != had || v != w || m.has(k) != had || (m.ptr(k) != nil) != had {
				t.Fatalf("step %d: get %s = %d %v, want %d %v", step, k, v, ok, w, had)
			}
		}
		check(step)
	}
}

// One entry costs one small list, no map; many entries get an index, which
// goes again, with the list's spare room, once they are removed.
func TestSmallMapIndexesOnlyWhenLarge(t *testing.T) {
	var m smallMap[int, int]
	m.put(1, 1)
	if m.index != nil || cap(m.entries) != 1 {
		t.Fatalf("one entry: index %v, capacity %d", m.index != nil, cap(m.entries))
	}
	for i := range 1000 {
		m.put(i, i)
	}
	if m.index == nil {
		t.Fatal("1000 entries without an index")
	}
	if p := m.ptr(500); p == nil || *p != 500 {
		t.Fatal("entry 500 is missing")
	}
	for i := range 1000 {
		m.remove(i)
	}
	if m.index != nil || m.entries != nil {
		t.Fatalf("emptied map keeps index %v, capacity %d", m.index != nil, cap(m.entries))
	}
}
