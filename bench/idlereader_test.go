package main

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A fan-out's readers must run at SCHED_IDLE in a process of their own, and
// the process that publishes (this one) must not.
func TestIdleReadersRunAtIdlePriorityInTheirOwnProcess(t *testing.T) {
	fs := startFakeServer(t)
	o := smokeOptions(t, "fanout", fs.addr())
	spec := popSpec{Targets: targetStrings(o), App: o.App, N: 4, TotalN: 4, Channels: 1,
		InFlight: 4, KernelTS: true, IdleReader: true}
	pops, _, err := startPopulations(spec, 0, 20*time.Second, newProgress(true))
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(pops)
	if want := min(4, runtime.NumCPU()); len(pops) != want {
		t.Fatalf("%d reader processes for %d cores, want %d", len(pops), runtime.NumCPU(), want)
	}
	for _, p := range pops {
		w, ok := p.(*workerPop)
		if !ok {
			t.Fatalf("idle readers ran in the publishing process (%T)", p)
		}
		pid := w.cmd.Process.Pid
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			if got := policyOf(t, tid); got != unix.SCHED_IDLE {
				t.Errorf("reader process %d thread %d: policy %d, want SCHED_IDLE", pid, tid, got)
			}
		}
	}
	if got := policyOf(t, unix.Gettid()); got == unix.SCHED_IDLE {
		t.Error("the publishing process runs at SCHED_IDLE")
	}
}

func policyOf(t *testing.T, tid int) uint32 {
	t.Helper()
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		t.Fatalf("sched_getattr %d: %v", tid, err)
	}
	return attr.Policy
}

// TCP keeps one receive timestamp for what waited in a queue together: the
// messages of one read before the last are counted as timed late.
func TestMessagesReadTogetherAreCountedAsTimedLate(t *testing.T) {
	l := &clientLoop{spec: popSpec{KernelTS: true}}
	l.step = 1
	c := &wsConn{}
	msg := []byte(`{"bench_t":1000,"bench_s":1}`)
	l.recvTS, l.timedInRead, l.now = 5000, 0, 6000
	l.onBenchMessage(c, msg)
	if l.st.shared != 0 {
		t.Fatalf("a message read alone counted as read behind another")
	}
	l.onBenchMessage(c, msg)
	l.onBenchMessage(c, msg)
	if l.st.delivered != 3 || l.st.shared != 2 || l.st.untimed != 0 {
		t.Fatalf("delivered %d, shared %d, untimed %d; want 3, 2, 0", l.st.delivered, l.st.shared, l.st.untimed)
	}
	l.recvTS = 0
	l.onBenchMessage(c, msg)
	if l.st.untimed != 1 {
		t.Fatalf("a read without a kernel timestamp not counted as untimed")
	}
}

// Sweeps saturate the server and keep readers at normal priority; without
// kernel timestamps a late read would count, so readers stay normal too.
func TestIdleReadersOnlyAtFixedRatesWithKernelTimestamps(t *testing.T) {
	for _, c := range []struct {
		idle, kernelTS, sweep, want bool
	}{
		{true, true, false, true},
		{true, true, true, false},
		{true, false, false, false},
		{false, true, false, false},
	} {
		o := &options{IdleReaders: c.idle, KernelTS: c.kernelTS, Sweep: c.sweep}
		if got := idleReaders(o); got != c.want {
			t.Errorf("idle %v, kernel-ts %v, sweep %v: idle readers %v, want %v", c.idle, c.kernelTS, c.sweep, got, c.want)
		}
	}
}
