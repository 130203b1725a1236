package engine

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Pinning event loops to CPUs.
//
// A broadcast to a big channel keeps every loop busy writing its share of
// the sockets, one write(2) each. Left to the kernel, a loop woken for the
// broadcast is often placed on the CPU of the goroutine that woke it, next
// to a loop that is already writing; the two share one core until the
// load balancer moves one, and a 10k-subscriber broadcast that takes 30 ms
// on two cores took up to 50 ms. So each loop runs on a thread of its own
// (gnet's LockOSThread) bound to a CPU of its own. Only when there is one
// loop per CPU the process may use: then every CPU gets exactly one loop,
// and several nodes on one machine stack their loops evenly instead of
// crowding the first CPUs. Everything else (API workers, the bus, the
// runtime's own threads) stays free to run anywhere.

// loopCPUs returns the CPU for each of loops event loops, or nil and why
// the loops are left unpinned.
func loopCPUs(loops int) ([]int, string) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Sprintf("the process's CPU set cannot be read (%v)", err)
	}
	var cpus []int
	for cpu, n := 0, set.Count(); len(cpus) < n; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	if len(cpus) != loops {
		return nil, fmt.Sprintf("%d event loops for %d usable CPUs", loops, len(cpus))
	}
	return cpus, ""
}

// pinThread binds the calling OS thread to cpu; the caller must hold its
// goroutine on that thread (runtime.LockOSThread, which gnet does for each
// loop when asked).
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, ",")
}
