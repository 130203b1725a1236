package hub

import "testing"

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
