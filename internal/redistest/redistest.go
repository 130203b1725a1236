// Package redistest starts throwaway redis-server processes for the unit
// tests of the packages that speak to Redis (the process tests in
// cmd/resound have their own harness, with logs and pauses).
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Start runs redis-server on a free loopback port, with no persistence,
// until the test ends, and returns its address and process (tests that
// hang Redis send it SIGSTOP). Without redis-server the test skips, unless
// RESOUND_REQUIRE_REDIS is set (as CI sets it).
func Start(t testing.TB) (string, *os.Process) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("RESOUND_REQUIRE_REDIS") != "" {
			t.Fatal("redis-server is required (RESOUND_REQUIRE_REDIS is set) but not installed: run scripts/redis.sh")
		}
		t.Skip("redis-server not installed; scripts/test.sh installs it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
