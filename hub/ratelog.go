package hub

import (
	"errors"
	"log"
	"sync"
	"time"
)

var errBusClosed = errors.New("the bus is closed")

// rateLog writes at most one line per second per kind, and says how many
// lines of that kind it held back, so an outage under load logs a few
// lines instead of one per event.
type rateLog struct {
	mu    sync.Mutex
	kinds map[string]*rateKind
	// now is time.Now, replaceable by tests.
	now func() time.Time
	// printf is log.Printf, replaceable by tests.
	printf func(format string, args ...any)
}

type rateKind struct {
	last       time.Time
	suppressed int
}

func (r *rateLog) logf(kind, format string, args ...any) {
	now, printf := time.Now, log.Printf
	if r.now != nil {
		now = r.now
	}
	if r.printf != nil {
		printf = r.printf
	}
	t := now()
	r.mu.Lock()
	if r.kinds == nil {
		r.kinds = map[string]*rateKind{}
	}
	k := r.kinds[kind]
	if k == nil {
		k = &rateKind{}
		r.kinds[kind] = k
	}
	if !k.last.IsZero() && t.Sub(k.last) < time.Second {
		k.suppressed++
		r.mu.Unlock()
		return
	}
	held := k.suppressed
	k.last, k.suppressed = t, 0
	r.mu.Unlock()
	if held > 0 {
		printf(format+" (and %d more like it in the last second)", append(args, held)...)
		return
	}
	printf(format, args...)
}
