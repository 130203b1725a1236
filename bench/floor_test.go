package main

import (
	"math"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMeasureFloorWritesEverySocket runs the real floor on a few loopback
// pairs: every round writes one frame to each socket and the CPU it took is
// what the figure divides.
func TestMeasureFloorWritesEverySocket(t *testing.T) {
	for _, sys := range []floorSyscall{floorWrite, floorSend} {
		t.Run(string(sys), func(t *testing.T) { checkFloor(t, sys) })
	}
}

func checkFloor(t *testing.T, sys floorSyscall) {
	f, err := measureFloor(8, 20*time.Millisecond, sys)
	if err != nil {
		t.Fatal(err)
	}
	if f.Syscall != sys {
		t.Errorf("floor says it timed %q, want %q", f.Syscall, sys)
	}
	if f.Sockets != 8 || f.Requested != 8 {
		t.Errorf("sockets %d of %d, want 8 of 8", f.Sockets, f.Requested)
	}
	if f.WarmFrames != steadyMessages {
		t.Errorf("%d warm-up frames per socket, want %d (past quick-ACK, as the scenarios' warm-up)", f.WarmFrames, steadyMessages)
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

// The floor's sockets are past TCP's 16 quick-ACKed segments before they
// are timed: the kernel counts every data segment each one sent, and the
// clients are left with nothing to read.
func TestWarmFloorSocketsPassQuickAck(t *testing.T) {
	servers, clients, err := floorPairs(3)
	defer func() { closeFDs(servers, clients) }()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	n, err := warmFloorSockets(servers, benchFrame(), sendFrame, func() { drainFloorClients(clients, buf) })
	if err != nil || n != steadyMessages {
		t.Fatalf("warmed with %d frames each, %v; want %d", n, err, steadyMessages)
	}
	if steadyMessages <= 16 {
		t.Errorf("steadyMessages = %d: not past the 16 quick-ACKed segments", steadyMessages)
	}
	for i, fd := range servers {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatal(err)
		}
		if info.Data_segs_out < steadyMessages {
			t.Errorf("socket %d sent %d data segments, want at least %d", i, info.Data_segs_out, steadyMessages)
		}
		if r, err := unix.Read(clients[i], buf); r > 0 || err != unix.EAGAIN {
			t.Errorf("client %d still had %d bytes to read (%v): not drained", i, r, err)
		}
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

// The table's floor is the median of its readings, and the counts behind
// it add up over all of them.
func TestMedianFloorOfReadings(t *testing.T) {
	r := func(us float64, writes int64) floorResult {
		return floorResult{Requested: 1000, Sockets: 1000, FrameBytes: 96, Rounds: int(writes / 1000),
			Writes: writes, CPUSeconds: us * float64(writes) / 1e6, WallSeconds: 1, USPerWrite: us}
	}
	m := medianFloor([]floorResult{r(5.2, 200_000), r(4.1, 240_000), r(4.6, 220_000)})
	if m.USPerWrite != 4.6 {
		t.Errorf("median of 5.2, 4.1, 4.6 = %v, want 4.6", m.USPerWrite)
	}
	if !slices.Equal(m.Readings, []float64{5.2, 4.1, 4.6}) {
		t.Errorf("readings %v, want them in the order taken", m.Readings)
	}
	if cpu := 5.2*0.2 + 4.1*0.24 + 4.6*0.22; math.Abs(m.CPUSeconds-cpu) > 1e-9 || m.WallSeconds != 3 {
		t.Errorf("CPU %v s and wall %v s, want the sums %v and 3", m.CPUSeconds, m.WallSeconds, cpu)
	}
	if m.Writes != 660_000 || m.Rounds != 660 || m.Sockets != 1000 || m.FrameBytes != 96 {
		t.Errorf("combined %+v", m)
	}
	if got := floorReadingsLabel(m); got != "median of 3 readings, in order: 5.20, 4.10, 4.60" {
		t.Errorf("label %q", got)
	}
	if two := medianFloor([]floorResult{r(4, 1000), r(5, 1000)}); two.USPerWrite != 4.5 {
		t.Errorf("median of two readings = %v, want their mean 4.5", two.USPerWrite)
	}
	one := r(4.4, 1000)
	if got := medianFloor([]floorResult{one}); got.USPerWrite != 4.4 || got.Readings != nil || floorReadingsLabel(got) != "one reading" {
		t.Errorf("a single reading changed: %+v", got)
	}
	if got := medianFloor(nil); got.USPerWrite != 0 {
		t.Errorf("no reading gave a floor of %v", got.USPerWrite)
	}
}

func TestFanoutSizesOncePerSubscriberCount(t *testing.T) {
	got := fanoutSizes(peerScenarios(1))
	if !slices.Equal(got, []int{1000, 10000}) {
		t.Errorf("floors for %v, want [1000 10000]", got)
	}
}
