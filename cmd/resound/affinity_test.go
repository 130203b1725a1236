package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// singleCPUThreads returns, for each thread of pid bound to exactly one
// CPU, that CPU (from /proc/PID/task/TID/status, as an operator would see
// it with taskset -p).
func singleCPUThreads(t *testing.T, pid int) []string {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var cpus []string
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the thread exited
		}
		for _, line := range strings.Split(string(b), "\n") {
			list, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
			list = strings.TrimSpace(list)
			if ok && !strings.ContainsAny(list, ",-") {
				cpus = append(cpus, list)
			}
		}
	}
	sort.Strings(cpus)
	return cpus
}

// By default each event loop runs on a thread bound to a CPU of its own
// (one loop per CPU), and the log says so; pin_loops: false binds none.
func TestEventLoopsPinnedToCPUs(t *testing.T) {
	loops := runtime.NumCPU()
	if loops < 2 {
		t.Skip("one CPU: pinned and unpinned loops cannot be told apart")
	}
	pinned := startServer(t, defaultApps)
	// Connections are spread over the loops in turn; a loop is pinned
	// when its first connection arrives.
	for range 2 * loops {
		defer dial(t, pinned).conn.Close()
	}
	var got []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = singleCPUThreads(t, pinned.cmd.Process.Pid); len(got) == loops {
			break
		}
	}
	var usable unix.CPUSet
	if err := unix.SchedGetaffinity(0, &usable); err != nil {
		t.Fatal(err)
	}
	var want []string
	for cpu := 0; len(want) < usable.Count(); cpu++ {
		if usable.IsSet(cpu) {
			want = append(want, fmt.Sprint(cpu))
		}
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("threads bound to one CPU: %v, want one per CPU %v", got, want)
	}
	if !strings.Contains(pinned.logs.String(), fmt.Sprintf("event loops: %d, each pinned to its own CPU", loops)) {
		t.Fatalf("the log does not say the loops are pinned:\n%s", pinned.logs.String())
	}

	free := startServer(t, `{"pin_loops":false,`+defaultApps[1:])
	for range 2 * loops {
		defer dial(t, free).conn.Close()
	}
	// Pinning would happen in a task each loop runs soon after its first
	// connection: look for a while, not once.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got := singleCPUThreads(t, free.cmd.Process.Pid); len(got) != 0 {
			t.Fatalf("pin_loops false: threads bound to CPUs %v", got)
		}
	}
	if strings.Contains(free.logs.String(), "pinned") {
		t.Fatalf("pin_loops false: the log mentions pinning:\n%s", free.logs.String())
	}
}
