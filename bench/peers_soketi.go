package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// startSoketi runs soketi with the bench app on free loopback ports. Its
// defaults would bind 0.0.0.0:6001 for the API, 0.0.0.0:9601 for /usage
// (always opened, metrics or not) and UDP 11002 for cluster discovery; every
// one is moved to a fresh port so runs and other services never collide.
// The discovery socket still binds the wildcard address (soketi's discovery
// library does not take a bind address for it); it only carries UDP hellos.
func startSoketi(bin string) (*serverProc, error) {
	dir, err := os.MkdirTemp("", "soketi-bench-")
	if err != nil {
		return nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	logf, err := os.Create(dir + "/server.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "start")
	cmd.Env = append(os.Environ(), soketiEnv(ports[0], ports[1], ports[2])...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the bench
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	t, _ := parseTarget(net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])))
	exited := make(chan struct{})
	s := &serverProc{cmd: cmd, dir: dir, target: t, log: logf, exited: exited}
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := s.awaitStart("soketi", func() error { return waitRootOK(t, 60*time.Second) }); err != nil {
		return nil, err
	}
	return s, nil
}

// waitRootOK polls soketi's health check, GET / answering 200.
func waitRootOK(t target, budget time.Duration) error {
	deadline := time.Now().Add(budget)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(t.baseURL() + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("GET /: HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("soketi at %s not up after %v: %v", t.HostPort, budget, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// soketiEnv is soketi's configuration: every listener on loopback or a
// fresh port, and the bench app's credentials.
func soketiEnv(apiPort, usagePort, discoveryPort int) []string {
	return []string{
		"SOKETI_HOST=127.0.0.1",
		"SOKETI_PORT=" + strconv.Itoa(apiPort),
		"SOKETI_METRICS_HOST=127.0.0.1",
		"SOKETI_METRICS_SERVER_PORT=" + strconv.Itoa(usagePort),
		"SOKETI_METRICS_ENABLED=false",
		"SOKETI_CLUSTER_HOST=127.0.0.1",
		"SOKETI_CLUSTER_PORT=" + strconv.Itoa(discoveryPort),
		"SOKETI_DEFAULT_APP_ID=bench",
		"SOKETI_DEFAULT_APP_KEY=bench-key",
		"SOKETI_DEFAULT_APP_SECRET=bench-secret",
		"SOKETI_SHUTDOWN_GRACE_PERIOD=500",
	}
}
