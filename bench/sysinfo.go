package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cpuTimes is CPU seconds used by a process (user, system). Reports show it
// next to wall time so a reader can tell whether the client or the server
// was the one that ran out of CPU.
type cpuTimes struct {
	User float64 `json:"user_s"`
	Sys  float64 `json:"sys_s"`
}

func (c cpuTimes) total() float64 { return c.User + c.Sys }

func (c cpuTimes) sub(o cpuTimes) cpuTimes {
	return cpuTimes{User: c.User - o.User, Sys: c.Sys - o.Sys}
}

func (c cpuTimes) add(o cpuTimes) cpuTimes {
	return cpuTimes{User: c.User + o.User, Sys: c.Sys + o.Sys}
}

func selfCPU() cpuTimes {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	tv := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return cpuTimes{User: tv(ru.Utime), Sys: tv(ru.Stime)}
}

func selfRSS() int64 { rss, _ := procRSS(os.Getpid()); return rss }

// procRSS reads VmRSS from /proc/<pid>/status: how idle RSS of servers that
// have no /stats endpoint is measured.
func procRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				kb, err := strconv.ParseInt(fields[1], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// procCPU reads utime+stime of another process from /proc/<pid>/stat.
func procCPU(pid int) (cpuTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, err
	}
	// The command name may contain spaces; fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTimes{}, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return cpuTimes{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return cpuTimes{User: ut / clockTicks, Sys: st / clockTicks}, nil
}

func pidsCPU(pids []int) (cpuTimes, bool) {
	var sum cpuTimes
	for _, p := range pids {
		c, err := procCPU(p)
		if err != nil {
			return cpuTimes{}, false
		}
		sum = sum.add(c)
	}
	return sum, len(pids) > 0
}

func pidsRSS(pids []int) (int64, bool) {
	var sum int64
	for _, p := range pids {
		r, err := procRSS(p)
		if err != nil {
			return 0, false
		}
		sum += r
	}
	return sum, len(pids) > 0
}

// socketsPerProcess is how many sockets one process can hold: the hard
// RLIMIT_NOFILE (Go raises the soft limit to it at startup) minus room for
// stdio, epoll, HTTP clients and the runtime.
func socketsPerProcess() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 1000
	}
	lim := rl.Max
	if rl.Cur > 0 && rl.Cur < lim {
		// Try to raise soft to hard ourselves in case the runtime did not.
		nl := rl
		nl.Cur = rl.Max
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &nl) != nil {
			lim = rl.Cur
		}
	}
	if lim > 1<<20 {
		lim = 1 << 20
	}
	return int(lim) - 200
}
