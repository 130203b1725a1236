package engine

import (
	"testing"
	"time"
)

// fakeHeap stands in for the runtime's held memory: a return drops it to
// live.
type fakeHeap struct {
	held, live uint64
	frees      int
}

func (f *fakeHeap) read() uint64 { return f.held }
func (f *fakeHeap) free()        { f.frees++; f.held = f.live }

func TestMemoryIsReturnedOnceABurstSettles(t *testing.T) {
	heap := &fakeHeap{held: 16 << 20, live: 16 << 20}
	m := newMemoryReturner(10*time.Second, heap.read, heap.free)
	t0 := time.Unix(1_000_000, 0)
	poll := func(at time.Duration, opened uint64) bool { return m.poll(t0.Add(at), opened) }

	// A burst: the count moves at every poll, nothing is returned while it does.
	heap.held, heap.live = 60<<20, 30<<20
	for i, opened := range []uint64{1000, 5000, 9000} {
		if poll(time.Duration(i)*memoryPoll, opened) {
			t.Fatalf("returned memory while connections were still opening (poll %d)", i)
		}
	}
	// One poll without a new connection: settled, and the heap grew a lot.
	if !poll(3*memoryPoll, 9000) {
		t.Fatal("memory not returned once the burst settled")
	}
	if heap.frees != 1 || m.baseline != 30<<20 {
		t.Fatalf("frees %d, baseline %d; want 1 and the live heap", heap.frees, m.baseline)
	}
	// Quiet afterwards: nothing more to do.
	if poll(4*memoryPoll, 9000) || poll(5*memoryPoll, 9000) {
		t.Fatal("returned memory again without a new burst")
	}

	// A second burst within the interval waits for the interval to pass.
	heap.held, heap.live = 70<<20, 40<<20
	poll(2*time.Second, 15000)
	if poll(3*time.Second, 15000) {
		t.Fatal("returned memory twice within memory_return_interval")
	}
	if !poll(3*memoryPoll+10*time.Second, 15000) {
		t.Fatal("a settled burst was not returned once the interval passed")
	}
	if heap.frees != 2 {
		t.Fatalf("frees %d, want 2", heap.frees)
	}
}

func TestMemoryIsNotReturnedForSmallGrowth(t *testing.T) {
	heap := &fakeHeap{held: 100 << 20, live: 100 << 20}
	m := newMemoryReturner(time.Second, heap.read, heap.free)
	t0 := time.Unix(1_000_000, 0)
	// 8 MiB on 100 MiB is over the 4 MiB floor but under a quarter.
	heap.held = 108 << 20
	m.poll(t0, 5000)
	if m.poll(t0.Add(memoryPoll), 5000) || heap.frees != 0 {
		t.Fatal("a collection was run for a growth under a quarter of the heap")
	}
	// A small heap: a quarter, but under 4 MiB.
	heap2 := &fakeHeap{held: 4 << 20, live: 4 << 20}
	m2 := newMemoryReturner(time.Second, heap2.read, heap2.free)
	heap2.held = 7 << 20
	m2.poll(t0, 2000)
	if m2.poll(t0.Add(memoryPoll), 2000) || heap2.frees != 0 {
		t.Fatal("a collection was run for a growth under 4 MiB")
	}
	// The growth is not carried over to a later quiet poll without a burst.
	heap.held = 200 << 20
	if m.poll(t0.Add(2*memoryPoll), 5000) {
		t.Fatal("memory returned without connections opening since the last look")
	}
}

func TestGoHeldReadsTheRuntime(t *testing.T) {
	if goHeld() == 0 {
		t.Fatal("runtime/metrics gave no held memory")
	}
}

// The goroutines gnet handed a burst's connections over on exit a while
// after it; their stacks are returned by one more collection then, once.
func TestMemoryIsReturnedOnceMoreAfterTheHandOverGoroutinesExit(t *testing.T) {
	heap := &fakeHeap{held: 16 << 20, live: 16 << 20}
	m := newMemoryReturner(10*time.Second, heap.read, heap.free)
	t0 := time.Unix(1_000_000, 0)
	heap.held, heap.live = 60<<20, 30<<20
	m.poll(t0, 9000)
	if !m.poll(t0.Add(memoryPoll), 9000) {
		t.Fatal("memory not returned once the burst settled")
	}
	// A trickle of connections meanwhile does not put the follow-up off.
	m.poll(t0.Add(5*time.Second), 9001)
	if m.poll(t0.Add(memoryFollowUp), 9001) {
		t.Fatal("followed up before the hand-over goroutines could have exited")
	}
	if !m.poll(t0.Add(memoryPoll+memoryFollowUp), 9001) || heap.frees != 2 {
		t.Fatalf("no follow-up return (frees %d)", heap.frees)
	}
	for i := 1; i <= 8; i++ {
		if m.poll(t0.Add(memoryPoll+memoryFollowUp+time.Duration(i)*time.Second), 9001) {
			t.Fatal("followed up more than once")
		}
	}
}

// A trickle of connections (API calls without keep-alive, a few sockets)
// is no burst, however much the heap grew between natural collections.
func TestMemoryIsNotReturnedForATrickle(t *testing.T) {
	heap := &fakeHeap{held: 16 << 20, live: 16 << 20}
	m := newMemoryReturner(time.Second, heap.read, heap.free)
	t0 := time.Unix(1_000_000, 0)
	heap.held = 64 << 20
	for i := 0; i < memoryBurstMin-1; i++ {
		at := time.Duration(2*i) * memoryPoll
		m.poll(t0.Add(at), uint64(i+1))
		if m.poll(t0.Add(at+memoryPoll), uint64(i+1)) {
			t.Fatalf("memory returned after %d connections, fewer than a burst", i+1)
		}
	}
	m.poll(t0.Add(time.Hour), memoryBurstMin)
	if !m.poll(t0.Add(time.Hour+memoryPoll), memoryBurstMin) || heap.frees != 1 {
		t.Fatalf("no return once a burst's worth had opened (frees %d)", heap.frees)
	}
}
