package engine

import (
	"context"
	"os"
	"runtime"
	"time"

	"github.com/panjf2000/gnet/v2"
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
	// nudgeAfter is how long a working loop may wait before it gets an
	// empty task: under the monitor's 10 ms with room for a late timer.
	nudgeAfter = 6 * time.Millisecond
	// nudgeIdleAfter: a loop that moved no bytes for this long is idle.
	nudgeIdleAfter = time.Second
	// nudgeIdlePoll is how often loops are looked at while all are idle.
	nudgeIdlePoll = 100 * time.Millisecond
	// nudgeMinWait keeps the nudger from spinning on a late timer.
	nudgeMinWait = 500 * time.Microsecond
)

// monoEpoch anchors monoNow, a monotonic clock in nanoseconds that fits an
// atomic int64.
var monoEpoch = time.Now()

func monoNow() int64 { return monoAt(time.Now()) }

// monoAt is monoNow for a time already read, so a path that needs the
// clock for something else reads it once.
func monoAt(t time.Time) int64 { return int64(t.Sub(monoEpoch)) }

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
	changed int64 // monoNow when bytes last changed
}

// look decides for one loop: whether it gets an empty task now, and how
// long until it needs another look. bytes is what the loop has moved so
// far, woke when it last started a task or read (monoNow), now the time.
// A loop is nudged once it has waited nudgeAfter, while it has moved bytes
// within nudgeIdleAfter; the empty task restamps woke when it runs.
func (a *loopActivity) look(bytes uint64, woke, now int64) (nudge bool, next time.Duration) {
	if bytes != a.bytes {
		a.bytes, a.changed = bytes, now
	}
	if a.changed == 0 || time.Duration(now-a.changed) >= nudgeIdleAfter {
		return false, nudgeIdlePoll
	}
	waited := time.Duration(now - woke)
	if waited >= nudgeAfter {
		return true, nudgeAfter
	}
	return false, nudgeAfter - waited
}

// nudgeLoops runs until the server stops (see the top of this file). It
// wakes when the next working loop is due, not on a fixed tick, so a loop
// that waits 17 ms between broadcasts gets two empty tasks, not five.
func (s *Server) nudgeLoops() {
	select {
	case <-s.started:
	case <-s.stopped:
		return
	}
	var seen []loopActivity
	t := time.NewTimer(nudgeAfter)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
			loops := s.allLoops()
			for len(seen) < len(loops) {
				seen = append(seen, loopActivity{})
			}
			now := monoNow()
			wait := nudgeIdlePoll
			for i, l := range loops {
				nudge, next := seen[i].look(l.io.in.Load()+l.io.out.Load(), l.io.woke.Load(), now)
				// One empty task at a time: a loop busy with a long
				// drain runs it afterwards, and needs no second.
				if nudge && l.io.nudged.CompareAndSwap(false, true) {
					l.el.Execute(context.Background(), l.nudgeTask)
				}
				wait = min(wait, next)
			}
			t.Reset(max(wait, nudgeMinWait))
		}
	}
}

// newNudgeTask is the loop's empty task, made once: running it is the
// wake that counts.
func (l *loop) newNudgeTask() gnet.RunnableFunc {
	return func(context.Context) error {
		l.io.woke.Store(monoNow())
		l.io.nudged.Store(false)
		return nil
	}
}
