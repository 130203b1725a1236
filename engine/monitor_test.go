package engine

import (
	"runtime"
	"testing"
	"time"
)

// The rule behind nudgeLoops: a loop is nudged once it has waited
// nudgeAfter since it last woke, only while it has moved bytes within
// nudgeIdleAfter, and the next look comes when the next nudge would be due.
func TestLoopActivityNudgesAWaitingWorkingLoop(t *testing.T) {
	ms := func(n int) int64 { return int64(time.Duration(n) * time.Millisecond) }
	var a loopActivity
	steps := []struct {
		name  string
		now   int64
		bytes uint64
		woke  int64
		nudge bool
		next  time.Duration
	}{
		{"never moved a byte: idle", ms(1000), 0, 0, false, nudgeIdlePoll},
		{"moved bytes, woke just now", ms(1010), 100, ms(1010), false, nudgeAfter},
		{"waited 4 ms", ms(1014), 100, ms(1010), false, nudgeAfter - 4*time.Millisecond},
		{"waited 6 ms: nudge", ms(1016), 100, ms(1010), true, nudgeAfter},
		{"the nudge ran at 1016", ms(1020), 100, ms(1016), false, 2 * time.Millisecond},
		{"a long drain, still counting", ms(1030), 500, ms(1020), true, nudgeAfter},
		{"no bytes for a second: idle", ms(2030), 500, ms(1500), false, nudgeIdlePoll},
		{"back to work", ms(2040), 600, ms(2040), false, nudgeAfter},
	}
	for _, s := range steps {
		nudge, next := a.look(s.bytes, s.woke, s.now)
		if nudge != s.nudge || next != s.next {
			t.Fatalf("%s: look = (%v, %v), want (%v, %v)", s.name, nudge, next, s.nudge, s.next)
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
