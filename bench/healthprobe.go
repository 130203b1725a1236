package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// healthProbe times GET /up the way a load balancer sends it, on a fresh
// connection every interval, while a scenario loads the server: whether the
// server's health checks wait behind its API work shows here. It runs in a
// child process so the flood's thousands of goroutines do not delay the
// probe in this process's scheduler and pass that off as server latency.
type healthProbe struct {
	hist   histogram
	failed int
	cmd    *exec.Cmd
	stdin  io.Closer
	done   chan struct{}
}

// probeEnv holds "host:port interval" in the child process.
const probeEnv = "RESOUND_BENCH_HEALTH_PROBE"

func startHealthProbe(t target, every time.Duration) (*healthProbe, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &healthProbe{done: make(chan struct{})}
	p.cmd = exec.Command(self)
	p.cmd.Env = append(os.Environ(), probeEnv+"="+net.JoinHostPort(t.IP.String(), strconv.Itoa(t.Port))+" "+every.String())
	p.cmd.Stderr = os.Stderr
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.stdin = stdin
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var status int
			var ns int64
			if _, err := fmt.Sscanf(sc.Text(), "%d %d", &status, &ns); err != nil || status != 200 {
				p.failed++
				continue
			}
			p.hist.record(ns)
		}
	}()
	return p, nil
}

// finish stops the child (it exits when its stdin closes) and summarises.
func (p *healthProbe) finish() (latencySummary, int) {
	_ = p.stdin.Close()
	<-p.done
	_ = p.cmd.Wait()
	return p.hist.summary(), p.failed
}

// isHealthProbe / healthProbeMain are the child's side: probe until stdin
// closes, one "status nanoseconds" line per probe.
func isHealthProbe() bool { return os.Getenv(probeEnv) != "" }

func healthProbeMain() {
	addr, interval, _ := strings.Cut(os.Getenv(probeEnv), " ")
	every, err := time.ParseDuration(interval)
	if err != nil || every <= 0 {
		fmt.Fprintln(os.Stderr, "bench: bad", probeEnv, os.Getenv(probeEnv))
		os.Exit(2)
	}
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	req := []byte("GET /up HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n")
	tick := time.NewTicker(every)
	defer tick.Stop()
	out := bufio.NewWriter(os.Stdout)
	for {
		select {
		case <-stop:
			_ = out.Flush()
			os.Exit(0)
		case <-tick.C:
		}
		start := time.Now()
		status, err := probeOnce(addr, req)
		if err != nil {
			status = 0
		}
		fmt.Fprintf(out, "%d %d\n", status, time.Since(start).Nanoseconds())
		_ = out.Flush()
	}
}

func probeOnce(addr string, req []byte) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		return 0, err
	}
	status, _, err := readResponse(bufio.NewReader(conn))
	return status, err
}
