package main

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// floorResult is what the kernel alone charges to write one server frame to
// each of N connected loopback sockets: the cost no Pusher server can go
// below for a fan-out to N subscribers. CPU is the writing thread's own
// CPU time (CLOCK_THREAD_CPUTIME_ID), which on loopback includes
// the receive-side softirq work the kernel runs on the sender's behalf.
type floorResult struct {
	Requested      int     `json:"requested_sockets"`
	Sockets        int     `json:"sockets"` // fewer than requested when the fd limit binds
	FrameBytes     int     `json:"frame_bytes"`
	Rounds         int     `json:"rounds"`
	Writes         int64   `json:"writes"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	WallSeconds    float64 `json:"wall_seconds"`
	USPerWrite     float64 `json:"cpu_us_per_write"`
	WallUSPerWrite float64 `json:"wall_us_per_write"`
	// Syscall is the call timed: write(2), the floor the issue defines, or
	// send(2), which Resound's broadcasts call.
	Syscall floorSyscall `json:"syscall"`
	// WarmFrames were written to each socket, untimed, before the rounds.
	WarmFrames int `json:"warm_frames_per_socket"`
	// Readings are the figures of separate measurements of the same floor
	// (fresh sockets each, at different times of one run). USPerWrite is
	// then their median; Rounds, Writes, CPUSeconds and WallSeconds are
	// sums over all readings (so CPUSeconds/Writes is their pooled mean,
	// not the median), WallUSPerWrite is pooled, and Sockets is the first
	// reading's.
	Readings []float64 `json:"cpu_us_per_write_readings,omitempty"`
}

// floorSyscall is the system call a floor times.
type floorSyscall string

const (
	floorWrite floorSyscall = "write(2)"
	floorSend  floorSyscall = "send(2)"
)

// medianFloor combines readings of one floor: the median figure, with every
// write and CPU second they took. A single reading is returned as it is.
func medianFloor(rs []floorResult) floorResult {
	if len(rs) < 2 {
		if len(rs) == 1 {
			return rs[0]
		}
		return floorResult{}
	}
	m := rs[0]
	m.Rounds, m.Writes, m.CPUSeconds, m.WallSeconds = 0, 0, 0, 0
	m.Readings = nil
	for _, r := range rs {
		m.Rounds += r.Rounds
		m.Writes += r.Writes
		m.CPUSeconds += r.CPUSeconds
		m.WallSeconds += r.WallSeconds
		m.Readings = append(m.Readings, r.USPerWrite)
	}
	sorted := slices.Clone(m.Readings)
	slices.Sort(sorted)
	if k := len(sorted); k%2 == 1 {
		m.USPerWrite = sorted[k/2]
	} else {
		m.USPerWrite = (sorted[k/2-1] + sorted[k/2]) / 2
	}
	m.WallUSPerWrite = floorPerWrite(m.WallSeconds, m.Writes)
	return m
}

// floorReadingsLabel says what the floor's figure is: one reading, or the
// median of several, each listed in the order they were taken.
func floorReadingsLabel(f floorResult) string {
	if len(f.Readings) < 2 {
		return "one reading"
	}
	parts := make([]string, len(f.Readings))
	for i, r := range f.Readings {
		parts[i] = strconv.FormatFloat(r, 'f', 2, 64)
	}
	return fmt.Sprintf("median of %d readings, in order: %s", len(f.Readings), strings.Join(parts, ", "))
}

// fanoutSizes are the distinct subscriber counts of the fan-out scenarios,
// in the order they first appear: one floor each.
func fanoutSizes(scen []peerScenario) []int {
	var ns []int
	for _, sc := range scen {
		if sc.Scenario == "fanout" && !slices.Contains(ns, sc.N) {
			ns = append(ns, sc.N)
		}
	}
	return ns
}

// floorPerWrite is the floor's arithmetic: CPU microseconds per write(2).
func floorPerWrite(cpuSeconds float64, writes int64) float64 {
	if writes <= 0 {
		return 0
	}
	return cpuSeconds * 1e6 / float64(writes)
}

// floorMultiple reads a server's CPU per delivery as a multiple of the
// floor; 0 when either side is unknown.
func floorMultiple(serverUS, floorUS float64) float64 {
	if serverUS <= 0 || floorUS <= 0 {
		return 0
	}
	return serverUS / floorUS
}

// benchFrame is a server-to-client text frame carrying the same event the
// fan-out scenarios publish, so the floor writes what the servers write.
func benchFrame() []byte {
	data := appendBenchData(nil, time.Now().UnixNano(), 1)
	return serverTextFrame([]byte(`{"event":"bench","channel":"bench-0","data":"` + string(data) + `"}`))
}

const floorRoundsPerDrain = 32

// maxFloorSockets keeps both ends of every pair under this process's fd
// limit, with room for the bench's own descriptors.
func maxFloorSockets() int {
	return max(1, (socketsPerProcess()-300)/2)
}

// measureFloor connects n loopback pairs through its own listener and writes
// the frame once to every server-side socket per round, for at least budget
// of CPU or 2,000,000 writes. Only the timed rounds' writes count; the client
// sides are drained between rounds so no buffer ever fills. The sockets are
// warmed first (warmFloorSockets), as the fan-out scenarios' subscribers are.
func measureFloor(n int, budget time.Duration, sys floorSyscall) (floorResult, error) {
	res := floorResult{Requested: n, Syscall: sys}
	write := writeFrame
	if sys == floorSend {
		write = sendFrame
	}
	n = min(n, maxFloorSockets())
	if n < 1 {
		return res, fmt.Errorf("floor: need at least one socket")
	}
	servers, clients, err := floorPairs(n)
	defer func() { closeFDs(servers, clients) }()
	if err != nil {
		return res, err
	}
	frame := benchFrame()
	res.Sockets, res.FrameBytes = n, len(frame)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 64<<10)
	drain := func() { drainFloorClients(clients, buf) }
	if res.WarmFrames, err = warmFloorSockets(servers, frame, write, drain); err != nil {
		return res, fmt.Errorf("floor %s (warm-up): %w", sys, err)
	}
	var cpu time.Duration
	wallStart := time.Now()
	for cpu < budget && res.Writes < 2_000_000 {
		// Several rounds per reading keep the clock's own cost out of the
		// figure; 32 frames queued per socket stay far below its buffer.
		before := threadCPU()
		for range floorRoundsPerDrain {
			if err := writeRound(servers, frame, write); err != nil {
				return res, fmt.Errorf("floor %s: %w", sys, err)
			}
		}
		cpu += threadCPU() - before
		res.Rounds += floorRoundsPerDrain
		res.Writes += int64(n * floorRoundsPerDrain)
		drain()
	}
	res.WallSeconds = time.Since(wallStart).Seconds()
	res.CPUSeconds = cpu.Seconds()
	res.USPerWrite = floorPerWrite(res.CPUSeconds, res.Writes)
	res.WallUSPerWrite = floorPerWrite(res.WallSeconds, res.Writes) // includes draining
	return res, nil
}

// floorPairs connects n loopback pairs through a listener of its own and
// returns the accepted (server) ends, non-blocking with TCP_NODELAY as the
// servers' sockets are, and the client ends, non-blocking. On an error it
// returns what it opened so far, for the caller to close.
func floorPairs(n int) (servers, clients []int, err error) {
	lfd, port, err := floorListener()
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(lfd)
	for i := 0; i < n; i++ {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return servers, clients, fmt.Errorf("floor socket %d: %w", i, err)
		}
		clients = append(clients, c)
		if err := unix.Connect(c, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return servers, clients, fmt.Errorf("floor connect %d: %w", i, err)
		}
		s, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		if err != nil {
			return servers, clients, fmt.Errorf("floor accept %d: %w", i, err)
		}
		servers = append(servers, s)
		_ = unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as the servers do
		if err := unix.SetNonblock(c, true); err != nil {
			return servers, clients, err
		}
	}
	return servers, clients, nil
}

// writeRound writes the frame once to every server socket.
func writeRound(servers []int, frame []byte, write func(int, []byte) (int, error)) error {
	for _, fd := range servers {
		if w, err := write(fd, frame); err != nil || w != len(frame) {
			return fmt.Errorf("%d of %d bytes, %v", w, len(frame), err)
		}
	}
	return nil
}

// closeFDs closes every descriptor of the floor's pairs.
func closeFDs(lists ...[]int) {
	for _, l := range lists {
		for _, fd := range l {
			unix.Close(fd)
		}
	}
}

// drainFloorClients reads every client end until it would block.
func drainFloorClients(clients []int, buf []byte) {
	for _, fd := range clients {
		for {
			if r, err := unix.Read(fd, buf); err != nil || r <= 0 {
				break
			}
		}
	}
}

// warmFloorSockets sends each server socket steadyMessages frames, untimed,
// draining the clients every 8 rounds and at the end, and returns how many
// frames each socket was sent. A new TCP connection ACKs the first 16
// segments it receives at once (quick-ACK) before it settles into delayed
// ACKs, and on loopback the writer pays for each such ACK inside its write:
// at 9,000 sockets the first 16 rounds cost 5.9-8.0 µs per write, later ones
// 3.8-4.4 µs (bench/results/20261130-1400-quickack-runs.txt). The fan-out
// scenarios' warm-up takes their subscribers past that phase (warmUpFor), so
// the floor is read past it too.
func warmFloorSockets(servers []int, frame []byte, write func(int, []byte) (int, error), drain func()) (int, error) {
	for round := 1; round <= steadyMessages; round++ {
		if err := writeRound(servers, frame, write); err != nil {
			return round - 1, err
		}
		if round%8 == 0 || round == steadyMessages {
			drain()
		}
	}
	return steadyMessages, nil
}

// writeFrame and sendFrame make their calls raw, without the Go runtime's
// blocking-syscall bookkeeping, as a server's non-blocking writes can (and
// Resound's do): the floor is the kernel's cost alone. sendFrame is the call
// Resound's broadcast path makes (engine/outbound.go).
func writeFrame(fd int, frame []byte) (int, error) {
	if len(frame) == 0 {
		return 0, nil
	}
	n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func sendFrame(fd int, frame []byte) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// threadCPU is the calling OS thread's CPU time, to the nanosecond.
// getrusage(RUSAGE_THREAD) was used before: it leaves out the time since
// the scheduler last accounted the running thread (up to a tick, 4 ms at
// this kernel's 250 Hz), an error of up to 3 % on a 32-round span at 1,000
// sockets and of half the cost on a single 500-write round.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// floorListener is a blocking loopback listener outside the Go poller, so
// each pair is accepted synchronously right after its connect.
func floorListener() (fd, port int, err error) {
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	if err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err == nil {
		err = unix.Listen(fd, 128)
	}
	var sa unix.Sockaddr
	if err == nil {
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		unix.Close(fd)
		return 0, 0, fmt.Errorf("floor listener: %w", err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

func floorLabel(f floorResult) string {
	s := strconv.Itoa(f.Sockets)
	if f.Sockets < f.Requested {
		s += " of " + strconv.Itoa(f.Requested) + " (fd limit)"
	}
	return s
}
