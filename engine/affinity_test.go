package engine

import (
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func usableCPUs(t *testing.T) unix.CPUSet {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatalf("reading this process's CPU set: %v", err)
	}
	return set
}

func TestLoopCPUsGivesEachLoopItsOwnUsableCPU(t *testing.T) {
	set := usableCPUs(t)
	n := set.Count()
	cpus, why := loopCPUs(n)
	if cpus == nil {
		t.Fatalf("one loop per usable CPU (%d) was not pinned: %s", n, why)
	}
	seen := map[int]bool{}
	for _, c := range cpus {
		if !set.IsSet(c) || seen[c] {
			t.Fatalf("CPUs %v: %d is not usable or given twice (usable: %d)", cpus, c, n)
		}
		seen[c] = true
	}
	if len(cpus) != n {
		t.Fatalf("%d CPUs for %d loops", len(cpus), n)
	}
}

func TestLoopCPUsLeavesOtherLoopCountsUnpinned(t *testing.T) {
	set := usableCPUs(t)
	n := set.Count()
	for _, loops := range []int{n + 1, 2 * n} {
		cpus, why := loopCPUs(loops)
		if cpus != nil {
			t.Fatalf("%d loops on %d CPUs were pinned to %v", loops, n, cpus)
		}
		if !strings.Contains(why, "event loops for") {
			t.Fatalf("%d loops: reason %q does not say why", loops, why)
		}
	}
	if n > 1 {
		if cpus, _ := loopCPUs(n - 1); cpus != nil {
			t.Fatalf("%d loops on %d CPUs (a CPU without a loop) were pinned to %v", n-1, n, cpus)
		}
	}
}

func TestPinThreadBindsOnlyTheCallingThread(t *testing.T) {
	before := usableCPUs(t)
	cpus, why := loopCPUs(before.Count())
	if cpus == nil {
		t.Fatal(why)
	}
	target := cpus[len(cpus)-1]
	done := make(chan unix.CPUSet)
	go func() {
		// A thread of its own, thrown away afterwards with its binding.
		runtime.LockOSThread()
		if err := pinThread(target); err != nil {
			t.Errorf("pinning to CPU %d: %v", target, err)
		}
		var got unix.CPUSet
		_ = unix.SchedGetaffinity(0, &got)
		done <- got
	}()
	got := <-done
	if got.Count() != 1 || !got.IsSet(target) {
		t.Fatalf("after pinning to CPU %d the thread may run on %d CPUs", target, got.Count())
	}
	if after := usableCPUs(t); after != before {
		t.Fatal("pinning one thread changed the calling test thread's CPU set")
	}
}

func TestCPUList(t *testing.T) {
	if got := cpuList([]int{0, 1, 5}); got != "0,1,5" {
		t.Fatalf("cpuList = %q", got)
	}
}
