package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// repoRoot finds the module root through `go env GOMOD`, so the test works
// from any directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside the resound module")
	}
	return filepath.Dir(gomod)
}

// buildServer builds ./cmd/resound of the module at root into the test's
// temporary directory and returns the binary's path.
func buildServer(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "resound")
	build := exec.Command("go", "build", "-o", bin, "./cmd/resound")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/resound: %v\n%s", err, out)
	}
	return bin
}

// TestSmokeAgainstRealServer builds ./cmd/resound, starts it on a free port
// with --expose-stats and runs every scenario tiny (20 sockets, ~2 s). It
// fails if a scenario breaks: nothing delivered, any loss on loopback, any
// failed socket or publish.
func TestSmokeAgainstRealServer(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "cmd", "resound")); os.IsNotExist(err) {
		t.Skip("cmd/resound does not exist yet; the smoke test runs once the server is there")
	}
	bin := buildServer(t, root)
	srv, err := startServer(bin)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(srv.stop)
	addr := srv.target.HostPort
	pid := strconv.Itoa(srv.pid())
	opts := func(scenario string, extra ...string) *options {
		return smokeOptions(t, scenario, addr, append([]string{"--server-pid", pid}, extra...)...)
	}
	t.Run("idle", func(t *testing.T) {
		r, err := runIdle(opts("idle"))
		checkRun(t, "idle", r, err)
		if r.Idle != nil && r.Idle.After.Source != "stats" {
			t.Errorf("GET /stats not used: %+v", r.Idle.After)
		}
	})
	t.Run("idle-2-workers", func(t *testing.T) {
		r, err := runIdle(opts("idle", "--procs", "2"))
		checkRun(t, "idle-2-workers", r, err)
	})
	for _, kind := range []string{"private", "presence"} {
		t.Run("idle-"+kind, func(t *testing.T) {
			r, err := runIdle(opts("idle", "--kind", kind, "--channels", "20"))
			checkRun(t, "idle-"+kind, r, err)
			if r.Sockets == nil || r.Sockets.Subscribed != 20 || r.Sockets.SubFailed != 0 {
				t.Errorf("%s: %+v, want all 20 sockets subscribed", kind, r.Sockets)
			}
		})
	}
	t.Run("connect", func(t *testing.T) {
		r, err := runConnect(opts("connect"))
		checkRun(t, "connect", r, err)
	})
	t.Run("fanout", func(t *testing.T) {
		r, err := runFanout(opts("fanout"))
		checkRun(t, "fanout", r, err)
	})
	t.Run("fanout-sweep", func(t *testing.T) {
		r, err := runFanout(opts("fanout", "--sweep", "--duration", "1s"))
		checkRun(t, "fanout-sweep", r, err)
	})
	t.Run("whisper", func(t *testing.T) {
		r, err := runWhisper(opts("whisper", "--room-size", "5"))
		checkRun(t, "whisper", r, err)
	})
	t.Run("publish-keepalive", func(t *testing.T) {
		r, err := runPublish(opts("publish"))
		checkRun(t, "publish", r, err)
	})
	t.Run("publish-no-keepalive", func(t *testing.T) {
		r, err := runPublish(opts("publish", "--no-keepalive"))
		checkRun(t, "publish", r, err)
	})
}
