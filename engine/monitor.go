package engine

import (
	"os"
	"runtime"
	"time"
)

// Keeping the Go runtime's monitor quiet while the loops work.
//
// An event loop waits for events in epoll_wait, a system call, and keeps
// its Go processor (P) through it. The runtime's monitor thread (sysmon)
// takes the P away once the call has lasted 10 ms, or at its next look
// (20 µs or more later) when no other P is idle, and every time it takes
// one it goes back to waking every 20 µs for the next millisecond or so.
// At 50 broadcasts a second to 1,000 subscribers the loops wait ~17 ms
// between broadcasts, and perf put 11 % of the server's CPU in the monitor:
// most of what a delivery cost above the kernel's write(2) floor. Two
// things keep it asleep most of the time:
//   - one P more than there are loops, so loops waiting together usually
//     leave an idle P (not while API workers or the collector run on it);
//   - a loop that has been moving bytes is woken by an empty task before
//     it has waited 10 ms (nudgeLoops), for as long as it keeps working.
//
// Together they took the monitor from 11 % of the samples to 0.5 % and the
// cost per delivery at 1k subscribers and 50 broadcasts/s from 7.0-7.3 µs
// to 5.7-6.5 µs (BENCH.md); either alone did not. A loop that has moved
// nothing for a second is left alone, so an idle server stays idle (the
// monitor then parks itself).

const (
	// nudgeEvery is how often a working loop is looked at: one unchanged
	// between two looks has waited at most two periods, well under 10 ms.
	nudgeEvery = 3 * time.Millisecond
	// nudgeIdleAfter: a loop that moved no bytes for this long is idle.
	nudgeIdleAfter = time.Second
	// nudgeIdlePoll is how often loops are looked at while all are idle.
	nudgeIdlePoll = 100 * time.Millisecond
)

// spareProcessor gives the runtime one P more than there are loops, when
// it has exactly one per loop and GOMAXPROCS was not set by the operator
// (a lower default, from a container's CPU limit, is left as it is). Once
// set, the runtime no longer follows later changes of that limit on its
// own; a resized container keeps the count it started with.
func spareProcessor(loops int) {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) == loops {
		runtime.GOMAXPROCS(loops + 1)
	}
}

// loopActivity is what nudgeLoops last saw of one loop.
type loopActivity struct {
	bytes   uint64
	changed time.Time
}

// nudge reports whether a loop whose byte count is now bytes should get an
// empty task: it moved nothing since the last look, but did within
// nudgeIdleAfter.
func (a *loopActivity) nudge(bytes uint64, now time.Time) bool {
	if bytes != a.bytes {
		a.bytes, a.changed = bytes, now
		return false
	}
	return now.Sub(a.changed) < nudgeIdleAfter
}

// nudgeLoops runs until the server stops (see the top of this file).
func (s *Server) nudgeLoops() {
	select {
	case <-s.started:
	case <-s.stopped:
		return
	}
	var seen []loopActivity
	empty := func() {}
	t := time.NewTimer(nudgeEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case now := <-t.C:
			loops := s.allLoops()
			for len(seen) < len(loops) {
				seen = append(seen, loopActivity{})
			}
			working := false
			for i, l := range loops {
				a := &seen[i]
				if a.nudge(l.io.in.Load()+l.io.out.Load(), now) {
					l.Execute(empty)
				}
				working = working || now.Sub(a.changed) < nudgeIdleAfter
			}
			if working {
				t.Reset(nudgeEvery)
			} else {
				t.Reset(nudgeIdlePoll)
			}
		}
	}
}
