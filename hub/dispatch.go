package hub

import "sync"

// delivery is one message for the sockets of one loop: every subscriber of
// ch (but except), or one session.
type delivery struct {
	ch     *Channel
	to     *Session
	except *Session
	// exceptUser keeps presence news about a user from that user's own
	// sockets (a second tab must not hear that it joined).
	exceptUser string
	// version of presence news; 0 for everything else.
	version int64
	frame   []byte
	// cached: an API event on a cache channel (what a replay stands for).
	cached bool
	// order of a cached event in its app's bus order.
	order Order
	// track times the fan-out when metrics are on (nil otherwise).
	track *fanOutTrack
}

// dispatcher queues deliveries for one event loop. Publishers append under a
// short lock; the loop drains everything queued in one go, so a burst of
// publishes becomes one write per socket instead of one per message.
type dispatcher struct {
	index int
	exec  Executor

	mu        sync.Mutex
	queue     []delivery
	scheduled bool

	// Touched only on the loop goroutine.
	spare []delivery
	dirty []*Session
	// staged counts deliveries until the drain adds them to stats at once.
	staged uint64
	// one holds a channel's only subscriber on this loop as a list.
	one [1]*Session
	// single passes one frame to an outbox without a slice per socket.
	single [1][]byte

	stats loopStats
}

func (d *dispatcher) push(items ...delivery) {
	d.mu.Lock()
	d.queue = append(d.queue, items...)
	schedule := !d.scheduled && d.exec != nil
	if schedule {
		d.scheduled = true
	}
	d.mu.Unlock()
	if schedule {
		d.exec.Execute(d.drain)
	}
}

func (d *dispatcher) drain() {
	d.mu.Lock()
	batch := d.queue
	d.queue = d.spare[:0]
	d.scheduled = false
	d.mu.Unlock()

	// A drain of one broadcast has nothing to coalesce: each subscriber
	// gets its frame at once, in one pass over the list, instead of being
	// staged and then visited again to flush. On a big channel that second
	// pass is a cache miss per subscriber for nothing.
	direct := len(batch) == 1
	tracked := false
	for i := range batch {
		it := &batch[i]
		tracked = tracked || it.track != nil
		if it.to != nil {
			d.stage(it.to, it.frame)
			continue
		}
		special := it.ch.kind.IsPresence() || it.ch.kind.IsCache()
		subs := it.ch.loop(d.index)
		// Last first: staging may close the socket it stages for (cut off
		// as a slow consumer), which moves the list's last member into its
		// place; every other member is then still visited exactly once.
		// The list is read again each time for that reason.
		for j := len(subs.list(&d.one)) - 1; j >= 0; j-- {
			list := subs.list(&d.one)
			if j >= len(list) {
				continue
			}
			s := list[j]
			if s == it.except {
				continue
			}
			if (special || s.joining > 0) && !s.admits(it) {
				continue
			}
			if direct {
				d.sendNow(s, it.frame)
				continue
			}
			d.stage(s, it.frame)
		}
		d.one[0] = nil
	}
	for i, s := range d.dirty {
		d.flush(s)
		s.queued = false
		d.dirty[i] = nil
	}
	d.dirty = d.dirty[:0]
	if d.staged > 0 {
		d.stats.deliveries.Add(d.staged)
		d.staged = 0
	}
	if tracked {
		for i := range batch {
			if t := batch[i].track; t != nil {
				t.done()
			}
		}
	}
	clear(batch)
	d.spare = batch[:0]
}

// sendNow hands one frame straight to a socket's outbox; only for a drain
// that stages nothing, so no staged frame of s can be overtaken.
func (d *dispatcher) sendNow(s *Session, frame []byte) {
	if s.closed {
		return
	}
	d.staged++
	d.single[0] = frame
	s.out.Send(d.single[:]...)
	d.single[0] = nil
}

// flushPendingBytes caps what one drain stages for a socket before handing
// it to the engine, whose outbound accounting (max_outbound_bytes) then sees
// it: a burst cannot pile up here unbounded and unaccounted.
const flushPendingBytes = 64 << 10

func (d *dispatcher) stage(s *Session, frame []byte) {
	if s.closed {
		return
	}
	s.pending = append(s.pending, frame)
	s.pendingBytes += int32(len(frame))
	d.staged++
	if !s.queued {
		s.queued = true
		d.dirty = append(d.dirty, s)
	}
	if s.pendingBytes >= flushPendingBytes {
		d.flush(s)
	}
}

// flush hands a socket's staged frames to its outbox; the frames are shared
// with other sockets and the outbox keeps no reference to the slice itself.
func (d *dispatcher) flush(s *Session) {
	frames := s.pending
	s.pending = s.pending[:0]
	s.pendingBytes = 0
	if cap(s.pending) > 64 {
		s.pending = nil
	}
	if !s.closed && len(frames) > 0 {
		s.out.Send(frames...)
	}
	// The outbox copied what it keeps; the array must not hold the
	// broadcast's frames until this socket's next delivery.
	clear(frames)
}
