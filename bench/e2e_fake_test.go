package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary act as a bench worker: workers re-execute
// os.Executable(), which under `go test` is this binary.
func TestMain(m *testing.M) {
	if isWorker() {
		workerMain()
	}
	if isHealthProbe() {
		healthProbeMain()
	}
	if isWriteLoop() {
		writeLoopMain()
	}
	os.Exit(m.Run())
}

func smokeOptions(t *testing.T, scenario, addr string, extra ...string) *options {
	t.Helper()
	args := append([]string{"--smoke", "--quiet", "--targets", addr}, extra...)
	o, err := parseOptions(scenario, args, io.Discard)
	if err != nil {
		t.Fatalf("%s options: %v", scenario, err)
	}
	return o
}

// checkRun fails the test on any run error and on the smoke invariants:
// something delivered, nothing lost, no socket failed.
func checkRun(t *testing.T, name string, r *runResult, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var sb strings.Builder
	printResult(&sb, r)
	t.Log(sb.String())
	for _, e := range r.Errors {
		t.Errorf("%s: %s", name, e)
	}
	for _, s := range r.Steps {
		if s.Expected > 0 && (s.Delivered == 0 || s.Lost > 0) {
			t.Errorf("%s step %d: expected %d delivered %d lost %d", name, s.Step, s.Expected, s.Delivered, s.Lost)
		}
		if s.Sent == 0 {
			t.Errorf("%s step %d: nothing sent", name, s.Step)
		}
	}
	if r.Sockets != nil && r.Sockets.Opened != r.Sockets.Requested {
		t.Errorf("%s: opened %d of %d", name, r.Sockets.Opened, r.Sockets.Requested)
	}
}

func TestScenariosAgainstFakeServer(t *testing.T) {
	fs := startFakeServer(t)
	addr := fs.addr()
	t.Run("idle", func(t *testing.T) {
		r, err := runIdle(smokeOptions(t, "idle", addr))
		checkRun(t, "idle", r, err)
		if r.Idle == nil || r.Idle.After.Connections < 20 {
			t.Errorf("idle: server saw %+v", r.Idle)
		}
	})
	t.Run("idle-2-workers", func(t *testing.T) {
		r, err := runIdle(smokeOptions(t, "idle", addr, "--procs", "2"))
		checkRun(t, "idle-2-workers", r, err)
		if r.Sockets.Procs != 2 {
			t.Errorf("want 2 worker processes, got %d", r.Sockets.Procs)
		}
	})
	t.Run("connect", func(t *testing.T) {
		r, err := runConnect(smokeOptions(t, "connect", addr))
		checkRun(t, "connect", r, err)
		if r.Connect.PerSecond <= 0 || r.Connect.Handshake.Count != 20 {
			t.Errorf("connect: %+v", r.Connect)
		}
	})
	t.Run("fanout", func(t *testing.T) {
		r, err := runFanout(smokeOptions(t, "fanout", addr))
		checkRun(t, "fanout", r, err)
	})
	t.Run("fanout-sweep-workers", func(t *testing.T) {
		dir := t.TempDir()
		o := smokeOptions(t, "fanout", addr, "--sweep", "--procs", "2", "--duration", "1s", "--out", dir+"/f.json")
		r, err := runFanout(o)
		checkRun(t, "fanout-sweep", r, err)
		if err := emit(o, r, io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir + "/f.svg"); err != nil {
			t.Errorf("sweep chart not written: %v", err)
		}
	})
	t.Run("whisper", func(t *testing.T) {
		r, err := runWhisper(smokeOptions(t, "whisper", addr, "--room-size", "5"))
		checkRun(t, "whisper", r, err)
		if fs.badAuth.Load() != 0 {
			t.Errorf("fake server rejected %d presence auths", fs.badAuth.Load())
		}
	})
	for _, ka := range []string{"keepalive", "no-keepalive"} {
		t.Run("publish-"+ka, func(t *testing.T) {
			var extra []string
			if ka == "no-keepalive" {
				extra = append(extra, "--no-keepalive")
			}
			r, err := runPublish(smokeOptions(t, "publish", addr, extra...))
			checkRun(t, "publish", r, err)
		})
	}
	t.Run("publish-probe-up-padded", func(t *testing.T) {
		r, err := runPublish(smokeOptions(t, "publish", addr, "--probe-up", "20ms", "--pad-bytes", "2000"))
		checkRun(t, "publish-probe-up", r, err)
		// --smoke publishes for 2 s: at one probe per 20 ms that is about 100.
		if r.Health == nil || r.Health.Count == 0 || r.Health.Count > 150 || r.Health.MaxMs <= 0 {
			t.Errorf("/up not probed every 20 ms: %+v", r.Health)
		}
	})
}
