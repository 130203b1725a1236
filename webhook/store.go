package webhook

import (
	"context"
	"sync"
	"time"
)

// Store holds events between the moment they happen and their delivery.
// MemoryStore serves one node; RedisStore shares one queue among the nodes
// of a cluster, so a batch taken by a node that dies is delivered by
// another, and a removal held on one node is cancelled by the user coming
// back on another.
type Store interface {
	// Add takes events in the order they happened. A removal
	// (member_removed, channel_vacated) is held for delay; the matching
	// addition (the same user back on the channel, the channel occupied
	// again) arriving before it is due drops both.
	Add(ctx context.Context, events []Event, delay time.Duration) error
	// Take returns up to max events that are due, oldest first, waiting up
	// to wait for the first.
	Take(ctx context.Context, max int, wait time.Duration) ([]Entry, error)
	// Keep tells the store that entries taken are still being delivered,
	// so that no other node takes them over.
	Keep(ctx context.Context, entries []Entry) error
	// Done forgets entries delivered or given up on.
	Done(ctx context.Context, entries []Entry) error
	Close() error
}

// Entry is an event taken from a Store.
type Entry struct {
	ID    string
	Event Event
}

// MemoryStore is Store for one node. Its queue is bounded: when full it
// drops the oldest event and tells onDrop.
type MemoryStore struct {
	mu     sync.Mutex
	cap    int
	ready  []Event
	held   map[string]*heldEvent
	order  []*heldEvent // by due time: every removal waits the same delay
	wake   chan struct{}
	onDrop func(n int)
	now    func() time.Time
}

type heldEvent struct {
	ev        Event
	due       time.Time
	cancelled bool
}

// NewMemoryStore holds up to capacity due events.
func NewMemoryStore(capacity int, onDrop func(n int)) *MemoryStore {
	if onDrop == nil {
		onDrop = func(int) {}
	}
	return &MemoryStore{cap: capacity, held: map[string]*heldEvent{}, wake: make(chan struct{}, 1), onDrop: onDrop, now: time.Now}
}

func (s *MemoryStore) Add(_ context.Context, events []Event, delay time.Duration) error {
	s.mu.Lock()
	now := s.now()
	for _, ev := range events {
		key, removal := ev.holdKey()
		switch {
		case key == "":
			s.pushLocked(ev)
		case removal && delay > 0:
			h := &heldEvent{ev: ev, due: now.Add(delay)}
			if old := s.held[key]; old != nil {
				old.cancelled = true
			}
			s.held[key] = h
			s.order = append(s.order, h)
		case !removal && s.held[key] != nil:
			s.held[key].cancelled = true
			delete(s.held, key)
		default:
			s.pushLocked(ev)
		}
	}
	s.mu.Unlock()
	s.signal()
	return nil
}

func (s *MemoryStore) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *MemoryStore) pushLocked(ev Event) {
	if s.cap > 0 && len(s.ready) >= s.cap {
		s.ready = s.ready[1:]
		s.onDrop(1)
	}
	s.ready = append(s.ready, ev)
}

// promoteLocked moves due removals to the queue and says when the next is due.
func (s *MemoryStore) promoteLocked(now time.Time) (next time.Time) {
	i := 0
	for ; i < len(s.order); i++ {
		h := s.order[i]
		if h.cancelled {
			continue
		}
		if h.due.After(now) {
			next = h.due
			break
		}
		key, _ := h.ev.holdKey()
		delete(s.held, key)
		s.pushLocked(h.ev)
	}
	s.order = s.order[i:]
	return next
}

func (s *MemoryStore) Take(ctx context.Context, max int, wait time.Duration) ([]Entry, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		next := s.promoteLocked(s.now())
		if n := min(max, len(s.ready)); n > 0 {
			out := make([]Entry, n)
			for i := range out {
				out[i].Event = s.ready[i]
			}
			s.ready = s.ready[n:]
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		var due <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(time.Until(next))
			due = t.C
		}
		var err error
		stop := false
		select {
		case <-ctx.Done():
			err, stop = ctx.Err(), true
		case <-deadline.C:
			stop = true
		case <-s.wake:
		case <-due:
		}
		if t != nil {
			t.Stop()
		}
		if stop {
			return nil, err
		}
	}
}

// idle says whether nothing is queued or held.
func (s *MemoryStore) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ready) == 0 && len(s.held) == 0
}

func (s *MemoryStore) Keep(context.Context, []Entry) error { return nil }
func (s *MemoryStore) Done(context.Context, []Entry) error { return nil }
func (s *MemoryStore) Close() error                        { return nil }
