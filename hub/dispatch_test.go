package hub

import (
	"context"
	"strings"
	"testing"

	"github.com/resound/resound/protocol"
)

// sentBatches records what the dispatcher hands a socket's outbox.
type sentBatches struct{ batches [][]int }

func (r *sentBatches) Send(frames ...[]byte) {
	var sizes []int
	for _, f := range frames {
		sizes = append(sizes, len(f))
	}
	r.batches = append(r.batches, sizes)
}
func (r *sentBatches) Kick(int, string) {}

func TestDispatchHandsOverABurstInBoundedBatches(t *testing.T) {
	out := &sentBatches{}
	s := &Session{out: out}
	d := &dispatcher{}
	frame := make([]byte, 10<<10)
	for i := 0; i < 20; i++ { // 200 KB staged in one drain
		d.stage(s, frame)
		if s.pendingBytes >= flushPendingBytes {
			t.Fatalf("%d bytes left staged, over %d", s.pendingBytes, flushPendingBytes)
		}
	}
	for _, s := range d.dirty {
		d.flush(s)
	}
	total := 0
	for _, b := range out.batches {
		size := 0
		for _, n := range b {
			size += n
		}
		if size > flushPendingBytes+len(frame) {
			t.Fatalf("a batch of %d bytes, over %d and one frame", size, flushPendingBytes)
		}
		total += len(b)
	}
	if total != 20 || len(out.batches) < 3 {
		t.Fatalf("%d frames in %d batches, want 20 in at least 3", total, len(out.batches))
	}
}

// closingOutbox closes its socket on the first large frame, as the engine
// does when it cuts off a slow consumer in the middle of a fan-out.
type closingOutbox struct {
	recordingOutbox
	s *Session
}

func (o *closingOutbox) Send(frames ...[]byte) {
	for _, f := range frames {
		if len(f) > 1000 && o.s != nil {
			s := o.s
			o.s = nil
			s.Close()
		}
	}
	o.recordingOutbox.Send(frames...)
}

func TestFanOutSurvivesASocketClosedMidway(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	var outs []*recordingOutbox
	var closers []*closingOutbox
	for i := 0; i < 12; i++ {
		if i%4 == 1 {
			o := &closingOutbox{}
			s, code, msg := h.Open(a, 0, o)
			if s == nil {
				t.Fatalf("open refused: %d %s", code, msg)
			}
			o.s = s
			s.Handle(subscribeMsg("room"))
			closers = append(closers, o)
			continue
		}
		s, out := openSocket(t, h, a)
		s.Handle(subscribeMsg("room"))
		outs = append(outs, out)
	}
	// Over flushPendingBytes, so each socket is flushed while staging.
	data := strings.Repeat("x", flushPendingBytes+1000)
	if err := a.Publish(context.Background(), []Event{{Name: "big", Data: data, Channels: []string{"room"}}}); err != nil {
		t.Fatal(err)
	}
	for i, out := range outs {
		out.waitFrames(t, 2) // subscription_succeeded, then the event
		if got := out.events(t); len(got) != 2 || got[1] != "big" {
			t.Fatalf("socket %d received %v, want the event once", i, got)
		}
	}
	for _, o := range closers {
		if o.s != nil {
			t.Fatal("a closing socket never got the event")
		}
	}
}

// batchCounter counts what it is handed without keeping or allocating.
type batchCounter struct{ batches, frames int }

func (o *batchCounter) Send(frames ...[]byte) { o.batches++; o.frames += len(frames) }
func (o *batchCounter) Kick(int, string)      {}

func drainOnce(d *dispatcher, items ...delivery) {
	d.queue = append(d.queue[:0], items...)
	d.drain()
}

func TestDispatchWritesALoneBroadcastInOnePassAndCoalescesABurst(t *testing.T) {
	ch := newChannel("big", protocol.Public, 1)
	outs := make([]*batchCounter, 300)
	sessions := make([]*Session, len(outs))
	for i := range outs {
		outs[i] = &batchCounter{}
		sessions[i] = &Session{out: outs[i]}
		ch.loop(0).add(sessions[i])
	}
	d := &dispatcher{}
	frame := []byte("frame")
	drainOnce(d, delivery{ch: ch, frame: frame})
	for i, o := range outs {
		if o.batches != 1 || o.frames != 1 {
			t.Fatalf("socket %d: %d batches, %d frames after one broadcast; want 1 and 1", i, o.batches, o.frames)
		}
	}
	if len(d.dirty) != 0 || d.single[0] != nil {
		t.Fatal("the lone broadcast left state behind in the dispatcher")
	}
	for i, s := range sessions {
		if cap(s.pending) != 0 {
			t.Fatalf("socket %d was staged for a lone broadcast (it keeps a pending list)", i)
		}
	}
	drainOnce(d, delivery{ch: ch, frame: frame}, delivery{ch: ch, frame: frame})
	for i, o := range outs {
		if o.batches != 2 || o.frames != 3 {
			t.Fatalf("socket %d: %d batches, %d frames after a burst of two; want the burst in one batch", i, o.batches, o.frames)
		}
	}
	if got := d.stats.deliveries.Load(); got != 900 {
		t.Fatalf("%d deliveries counted, want 900", got)
	}
	allocs := testing.AllocsPerRun(20, func() { drainOnce(d, delivery{ch: ch, frame: frame}) })
	if allocs != 0 {
		t.Fatalf("a lone broadcast to 300 sockets allocated %v times", allocs)
	}
}
