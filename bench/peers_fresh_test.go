package main

import (
	"testing"
	"time"
)

// TestPeerServerRestartsForFreshScenarios runs tiny memory scenarios
// against the real server and checks that each one marked Fresh got a
// process of its own, that a scenario not marked Fresh reused the previous
// one, and that the private and presence sockets really subscribed.
func TestPeerServerRestartsForFreshScenarios(t *testing.T) {
	root := repoRoot(t)
	bin := buildServer(t, root)
	var pids []int
	s := peerServer{name: "Resound", start: func() (*serverProc, error) {
		p, err := startServer(bin)
		if err == nil {
			pids = append(pids, p.pid())
		}
		return p, err
	}}
	scen := []peerScenario{
		{Key: "private", Scenario: "idle", N: 20, Channels: 20, Kind: "private", Fresh: true},
		{Key: "presence", Scenario: "idle", N: 20, Channels: 20, Kind: "presence", Fresh: true},
		{Key: "again", Scenario: "idle", N: 10, Kind: "public"},
	}
	c := &peersConfig{Duration: time.Second, MaxSteps: 1, P99Bound: time.Second}
	base := &options{Quiet: true, progress: newProgress(true), deadline: time.Now().Add(2 * time.Minute)}
	res, errs, err := runPeerServer(c, base, s, scen)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("errors: %v", errs)
	}
	if len(pids) != 2 || pids[0] == pids[1] {
		t.Errorf("server pids %v: want two processes, one per Fresh scenario, the last scenario reusing the second", pids)
	}
	for _, key := range []string{"private", "presence"} {
		r := res[key]
		if r == nil || r.Sockets == nil || r.Idle == nil {
			t.Fatalf("%s: no idle result: %+v", key, r)
		}
		if r.Sockets.Opened != 20 || r.Sockets.Subscribed != 20 || r.Idle.Kind != key {
			t.Errorf("%s: opened %d, subscribed %d, kind %q; want 20, 20, %s",
				key, r.Sockets.Opened, r.Sockets.Subscribed, r.Idle.Kind, key)
		}
	}
	if r := res["again"]; r == nil || r.Sockets == nil || r.Sockets.Opened != 10 || r.Sockets.Subscribed != 0 {
		t.Errorf("public idle on the reused server: %+v", r)
	}
}
