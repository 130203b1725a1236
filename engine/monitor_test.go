package engine

import (
	"runtime"
	"testing"
	"time"
)

// The rule behind nudgeLoops: a loop is nudged while it is working (moved
// bytes within nudgeIdleAfter) but not at the look right after it moved
// some, and never once idle.
func TestLoopActivityNudgesOnlyAWorkingLoopThatStopped(t *testing.T) {
	start := time.Unix(1000, 0)
	var a loopActivity
	steps := []struct {
		after time.Duration
		bytes uint64
		nudge bool
	}{
		{0, 0, false},                               // never moved anything: idle
		{nudgeEvery, 100, false},                    // moved bytes since the last look
		{2 * nudgeEvery, 100, true},                 // stopped: may be waiting in epoll_wait
		{3 * nudgeEvery, 100, true},                 // still waiting, still working recently
		{4 * nudgeEvery, 250, false},                // moved again
		{4*nudgeEvery + nudgeIdleAfter, 250, false}, // nothing for a second: idle
		{5*nudgeEvery + 2*nudgeIdleAfter, 250, false},
		{6*nudgeEvery + 2*nudgeIdleAfter, 300, false}, // back to work
		{7*nudgeEvery + 2*nudgeIdleAfter, 300, true},
	}
	for i, s := range steps {
		if got := a.nudge(s.bytes, start.Add(s.after)); got != s.nudge {
			t.Fatalf("step %d (%v, %d bytes): nudge = %v, want %v", i, s.after, s.bytes, got, s.nudge)
		}
	}
}

func TestSpareProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv("GOMAXPROCS", "")

	runtime.GOMAXPROCS(2)
	spareProcessor(2)
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("2 loops on 2 processors: GOMAXPROCS = %d, want 3", got)
	}
	runtime.GOMAXPROCS(2)
	spareProcessor(8) // e.g. a container's CPU limit made the runtime pick 2
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("8 loops on 2 processors: GOMAXPROCS = %d, want it left at 2", got)
	}
	t.Setenv("GOMAXPROCS", "2")
	spareProcessor(2)
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("GOMAXPROCS set by the operator: changed to %d", got)
	}
}
