package hub

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkChannelIndex compares the index with the channels it should hold: every one
// found by name and listed once, nothing else found, and the table neither
// over 3/4 full nor (past its smallest size) under 1/8.
func checkChannelIndex(t *testing.T, step int, x *channelIndex, want map[string]*Channel) {
	t.Helper()
	if x.len() != len(want) {
		t.Fatalf("step %d: %d channels, want %d", step, x.len(), len(want))
	}
	for name, ch := range want {
		if got := x.get(name); got != ch {
			t.Fatalf("step %d: get(%q) = %p, want %p", step, name, got, ch)
		}
	}
	seen := map[*Channel]bool{}
	for ch := range x.all() {
		if seen[ch] || want[ch.name] != ch {
			t.Fatalf("step %d: all() yields %q twice or a channel it should not hold", step, ch.name)
		}
		seen[ch] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("step %d: all() yields %d channels, want %d", step, len(seen), len(want))
	}
	if size := len(x.slots); size > 0 && (x.n*4 > size*3 || (size > minChannelSlots && x.n*8 < size)) {
		t.Fatalf("step %d: %d channels in %d slots", step, x.n, size)
	}
}

// The index answers like a Go map through random puts and removes that
// grow it to thousands of channels and shrink it back to none.
func TestChannelIndexMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := newChannelIndex()
	want := map[string]*Channel{}
	step := 0
	for _, phase := range []struct{ steps, keys, addPct int }{{4000, 3000, 80}, {4000, 3000, 50}, {6000, 3000, 10}} {
		for range phase.steps {
			step++
			name := "private-" + strconv.Itoa(rng.IntN(phase.keys))
			if rng.IntN(100) < phase.addPct {
				if want[name] == nil {
					ch := &Channel{name: name}
					x.put(ch)
					want[name] = ch
				}
			} else if ch := want[name]; ch != nil {
				if !x.remove(ch) {
					t.Fatalf("step %d: remove(%q) found nothing", step, name)
				}
				delete(want, name)
			} else if x.remove(&Channel{name: name}) {
				t.Fatalf("step %d: removed %q, which was not there", step, name)
			}
			if step%97 == 0 {
				checkChannelIndex(t, step, &x, want)
			}
		}
		checkChannelIndex(t, step, &x, want)
	}
	for name, ch := range want {
		x.remove(ch)
		delete(want, name)
	}
	checkChannelIndex(t, step, &x, want)
	if len(x.slots) > minChannelSlots {
		t.Fatalf("an empty index keeps %d slots", len(x.slots))
	}
}

// namesWithHome returns n channel names whose home slot in a table of size
// slots is home: one run of colliding names.
func namesWithHome(x *channelIndex, size, home, n int) []string {
	var names []string
	for i := 0; len(names) < n; i++ {
		name := "presence-" + strconv.Itoa(i)
		if int(x.hash(name)&uint64(size-1)) == home {
			names = append(names, name)
		}
	}
	return names
}

// Names that share a home slot, in a run that wraps past the table's end
// and is interleaved with names homed next to it, stay reachable whichever
// of them goes first: removal shifts the rest of the run back.
func TestChannelIndexCollisionsAndWrap(t *testing.T) {
	for _, home := range []int{0, 5, minChannelSlots*2 - 1} {
		for first := range 4 {
			x := newChannelIndex()
			x.resize(minChannelSlots * 2)
			size := len(x.slots)
			names := append(namesWithHome(&x, size, home, 4), namesWithHome(&x, size, (home+1)%size, 2)...)
			names = append(names, namesWithHome(&x, size, (home+3)%size, 2)...)
			want := map[string]*Channel{}
			for _, name := range names {
				ch := &Channel{name: name}
				x.put(ch)
				want[name] = ch
			}
			if len(x.slots) != size {
				t.Fatalf("the table grew to %d slots for %d channels", len(x.slots), len(names))
			}
			checkChannelIndex(t, 0, &x, want)
			order := append([]string{names[first]}, names[:first]...)
			order = append(order, names[first+1:]...)
			for i, name := range order {
				if !x.remove(want[name]) {
					t.Fatalf("home %d: remove(%q) found nothing", home, name)
				}
				delete(want, name)
				for other, ch := range want {
					if x.get(other) != ch {
						t.Fatalf("home %d, first %d: after %d removals %q is lost", home, first, i+1, other)
					}
				}
			}
		}
	}
}

// A channel with the name of an indexed one, but not that one, is not
// removed in its place: a stale channel must never unlist a live one.
func TestChannelIndexRemovesOnlyThatChannel(t *testing.T) {
	x := newChannelIndex()
	live := &Channel{name: "private-a"}
	x.put(live)
	if x.remove(&Channel{name: "private-a"}) {
		t.Fatal("removed a stale channel of the same name")
	}
	if x.get("private-a") != live {
		t.Fatal("the live channel is gone")
	}
}

// Lookups allocate nothing: every delivery does one.
func TestChannelIndexGetAllocatesNothing(t *testing.T) {
	x := newChannelIndex()
	for i := range 100 {
		x.put(&Channel{name: "private-" + strconv.Itoa(i)})
	}
	name := []byte("private-42")
	if n := testing.AllocsPerRun(100, func() {
		if x.get(string(name)) == nil || x.get("private-missing") != nil {
			panic("wrong lookup")
		}
	}); n != 0 {
		t.Fatalf("get allocates %.0f times", n)
	}
}

func BenchmarkChannelIndexGet(b *testing.B) {
	x := newChannelIndex()
	m := map[string]*Channel{}
	names := make([]string, 20000)
	for i := range names {
		names[i] = "private-bench-" + strconv.Itoa(i)
		ch := &Channel{name: names[i]}
		x.put(ch)
		m[names[i]] = ch
	}
	b.Run("index", func(b *testing.B) {
		for i := range b.N {
			if x.get(names[i%len(names)]) == nil {
				b.Fatal("missing")
			}
		}
	})
	b.Run("gomap", func(b *testing.B) {
		for i := range b.N {
			if m[names[i%len(names)]] == nil {
				b.Fatal("missing")
			}
		}
	})
}
