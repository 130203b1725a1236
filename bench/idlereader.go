package main

import (
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Subscribers that only read run in worker processes at SCHED_IDLE when
// latency is measured to the kernel's receive timestamp (popSpec.IdleReader).
//
// Client and server share this machine's cores. A broadcast to 10,000
// sockets is ~60 ms of the server's CPU (one write(2) each); a reader at
// normal priority wakes at the first frame and takes a core for the whole
// burst, so the server writes its halves on what is left and the figure
// measures the co-located client. Remote clients never take the server's
// CPU. With SO_TIMESTAMPNS the time a frame waits to be read is not part of
// its latency (it is reported as client lag), so readers that run only on
// CPU the server leaves measure the server alone, every server alike.
//
// The readers get a process of their own: the publisher, which stamps each
// event's send time, must keep normal priority, and in one Go process it
// would share the runtime (its Ps, its stop-the-world pauses) with threads
// the kernel may starve for a whole burst.

// idleProcess moves every thread of this process to SCHED_IDLE. Threads
// started later inherit the policy from the thread that creates them; the
// second pass catches any started during the first.
func idleProcess() error {
	attr := unix.SchedAttr{Size: uint32(unsafe.Sizeof(unix.SchedAttr{})), Policy: unix.SCHED_IDLE}
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && err != unix.ESRCH {
				return err
			}
		}
	}
	return nil
}
