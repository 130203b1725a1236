package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"
)

// writeLoopName is the write-loop server's name in the peers table.
const writeLoopName = "write loop"

func writeLoopVersion() string {
	return fmt.Sprintf("the bench's write-loop server (bench/writeloop.go): raw write(2) per subscriber, channels of %d or more split over up to %d goroutines (one per CPU, %d sockets at least each)",
		2*writeLoopMinPart, runtime.NumCPU(), writeLoopMinPart)
}

// startWriteLoop runs this executable as the write-loop server
// (writeLoopEnv) on a free loopback port and waits for GET /up.
func startWriteLoop() (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return launchServer("write-loop server", "writeloop-bench-", func(_ string, port int) (*exec.Cmd, func(target) error, error) {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), writeLoopEnv+"="+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		return cmd, func(t target) error { return waitUp(t, 20*time.Second) }, nil
	})
}
