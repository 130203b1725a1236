package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// startSoketi runs soketi with the bench app on free loopback ports. Its
// defaults would bind 0.0.0.0:6001 for the API, 0.0.0.0:9601 for /usage
// (always opened, metrics or not) and UDP 11002 for cluster discovery; every
// one is moved to a fresh port so runs and other services never collide.
// The discovery socket still binds the wildcard address (soketi's discovery
// library does not take a bind address for it); it only carries UDP hellos.
func startSoketi(bin string) (*serverProc, error) {
	return launchServer("soketi", "soketi-bench-", func(_ string, apiPort int) (*exec.Cmd, func(target) error, error) {
		usagePort, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		discoveryPort, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		cmd := exec.Command(bin, "start")
		cmd.Env = append(os.Environ(), soketiEnv(apiPort, usagePort, discoveryPort)...)
		return cmd, func(t target) error { return waitRootOK(t, 60*time.Second) }, nil
	})
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
