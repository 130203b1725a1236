package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestPressureAndDrainAgainstRealServer runs the two limit scenarios tiny
// against the real binary: a flood must not cost the subscribers anything,
// and a drain must close every socket and end the process.
func TestPressureAndDrainAgainstRealServer(t *testing.T) {
	root := repoRoot(t)
	bin := buildServer(t, root)
	srv, err := startServer(bin)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(srv.stop)
	addr := srv.target.HostPort
	pid := strconv.Itoa(srv.pid())

	r, err := runPressure(smokeOptions(t, "pressure", addr, "--server-pid", pid, "--flood", "30"))
	checkRun(t, "pressure", r, err)
	if len(r.Steps) != 2 || r.Steps[1].Delivered == 0 {
		t.Fatalf("pressure: want a baseline and a flooded step with deliveries, got %+v", r.Steps)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "flood:") {
		t.Fatalf("pressure notes lack the flood counts: %q", r.Notes)
	}

	r, err = runDrain(smokeOptions(t, "drain", addr, "--server-pid", pid, "--timeout", "30s"))
	checkRun(t, "drain", r, err)
	notes := strings.Join(r.Notes, "\n")
	if !strings.Contains(notes, "100% of 20 sockets closed by the server") || !strings.Contains(notes, "process exited") {
		t.Fatalf("drain notes: %s", notes)
	}
	<-srv.exited
}
