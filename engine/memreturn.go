package engine

import (
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2/pkg/pool/goroutine"
)

// After a burst of handshakes the Go heap holds the burst's garbage (gnet's
// hand-over of each connection allocates ~1.2 KB it drops at once) until
// the collector's pacing gets to it, and freed pages go back to the OS only
// slowly: an idle node that took 20k sockets in a few seconds showed ~40 %
// more RSS than its live memory for minutes. So once a burst has settled,
// the server runs one collection and returns the free pages at once. That
// costs one full GC (milliseconds for a heap of tens of MB, most of it
// concurrent with the loops), done at most once per MemoryReturnInterval
// and only when the memory the Go runtime holds grew by a lot since the
// last return. gnet hands each connection over on a pooled goroutine that
// exits only after sitting idle for goroutine.ExpiryDuration (checked that
// often), and its stack (8-16 KB) is free memory from then on: one more
// return follows once those have gone.

const (
	// memoryPoll is how often the opened-connection count is looked at;
	// a burst has settled when it did not move over one poll.
	memoryPoll = 250 * time.Millisecond
	// memoryReturnMin and memoryReturnRatio: the growth since the last
	// return that is worth a collection (both must hold).
	memoryReturnMin   = 4 << 20
	memoryReturnRatio = 4 // growth >= held/4
	// memoryBurstMin is how many connections make a burst: a trickle
	// between natural collections always shows the growth below, and
	// returning memory for it would only churn pages.
	memoryBurstMin = 1000
	// memoryFollowUp is when the hand-over goroutines of a burst have
	// exited.
	memoryFollowUp = 2*goroutine.ExpiryDuration + 5*time.Second
)

// memoryReturner decides when to return memory; the clock and the reading
// of held memory are fields so its rule can be tested without a server.
type memoryReturner struct {
	interval time.Duration
	held     func() uint64
	free     func()

	seen     uint64 // opened count at the last poll
	counted  uint64 // opened count when the last burst was looked at
	burst    bool   // a burst's worth of connections opened since then
	last     time.Time
	baseline uint64    // held memory right after the last return
	followUp time.Time // when to return once more after a burst (zero: not due)
	before   uint64    // held memory right before the last return
	// returns and spent count what it did, for tests and debug logs.
	returns atomic.Uint64
	spent   atomic.Int64
}

func newMemoryReturner(interval time.Duration, held func() uint64, free func()) *memoryReturner {
	return &memoryReturner{interval: interval, held: held, free: free, baseline: held()}
}

// poll looks at the opened-connection count once; it returns true when it
// returned memory.
func (m *memoryReturner) poll(now time.Time, opened uint64) bool {
	if opened != m.seen {
		m.seen = opened
		if opened-m.counted >= memoryBurstMin {
			m.burst = true
		}
		return false
	}
	if !m.followUp.IsZero() && !now.Before(m.followUp) {
		m.followUp = time.Time{}
		m.release(now)
		return true
	}
	if !m.burst || now.Sub(m.last) < m.interval {
		return false
	}
	held := m.held()
	if held < m.baseline+memoryReturnMin || held < m.baseline+m.baseline/memoryReturnRatio {
		// Not worth a collection; the next burst is looked at afresh.
		m.burst, m.counted = false, opened
		return false
	}
	m.release(now)
	m.burst, m.counted, m.followUp = false, opened, now.Add(memoryFollowUp)
	return true
}

func (m *memoryReturner) release(now time.Time) {
	m.before = m.held()
	start := time.Now()
	m.free()
	m.spent.Add(int64(time.Since(start)))
	m.returns.Add(1)
	m.last, m.baseline = now, m.held()
}

// goHeld is the memory the Go runtime holds from the OS and has not
// returned: roughly its share of the process's RSS.
func goHeld() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// returnMemory runs until the server stops (see the comment at the top).
func (s *Server) returnMemory() {
	if s.opts.MemoryReturnInterval < 0 {
		return
	}
	m := newMemoryReturner(s.opts.MemoryReturnInterval, goHeld, debug.FreeOSMemory)
	t := time.NewTicker(memoryPoll)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case now := <-t.C:
			if m.poll(now, s.opened.Load()) && s.opts.Debug {
				s.debugf("returned memory after a burst of connections: %d KiB held before, %d KiB after (%d returns, %s in all)",
					m.before>>10, m.baseline>>10, m.returns.Load(), time.Duration(m.spent.Load()).Round(time.Millisecond))
			}
		}
	}
}
