package main

import (
	"testing"
	"time"
)

// TestMeasureFloorWritesEverySocket runs the real floor on a few loopback
// pairs: every round writes one frame to each socket and the CPU it took is
// what the figure divides.
func TestMeasureFloorWritesEverySocket(t *testing.T) {
	f, err := measureFloor(8, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if f.Sockets != 8 || f.Requested != 8 {
		t.Errorf("sockets %d of %d, want 8 of 8", f.Sockets, f.Requested)
	}
	if f.Writes != int64(f.Rounds*f.Sockets) || f.Writes == 0 {
		t.Errorf("%d writes for %d rounds of %d sockets", f.Writes, f.Rounds, f.Sockets)
	}
	if f.FrameBytes != len(benchFrame()) || f.FrameBytes < 60 {
		t.Errorf("frame of %d bytes, want the bench event's %d", f.FrameBytes, len(benchFrame()))
	}
	if f.USPerWrite <= 0 || f.USPerWrite != floorPerWrite(f.CPUSeconds, f.Writes) {
		t.Errorf("%.3f µs per write from %.6f s over %d writes", f.USPerWrite, f.CPUSeconds, f.Writes)
	}
}

func TestBenchFrameIsOneTextFrame(t *testing.T) {
	b := benchFrame()
	fr, n, err := parseFrame(b)
	if err != nil || n != len(b) {
		t.Fatalf("parse: %d of %d bytes, %v", n, len(b), err)
	}
	if fr.opcode != 1 {
		t.Errorf("opcode %d, want text (1)", fr.opcode)
	}
}
