package main

import (
	"fmt"
	"time"
)

// runConnect measures the handshake rate: N sockets opened with at most
// --inflight handshakes outstanding; a socket counts once the server's
// pusher:connection_established arrives.
func runConnect(o *options) (*runResult, error) {
	label := fmt.Sprintf("connect %d sockets, %d in flight", o.N, o.InFlight)
	r := newResult(o, label, map[string]any{"n": o.N, "inflight": o.InFlight, "procs": o.Procs})
	start := time.Now()
	cpu0 := selfCPU()
	srv0, hasSrv := pidsCPU(o.ServerPIDs)
	snap0 := snapshot{at: start, client: cpu0, server: srv0, hasServer: hasSrv}
	f, err := openFleet(o, popSpec{Targets: targetStrings(o), App: o.App, N: o.N, TotalN: o.N,
		InFlight: o.InFlight, SourceIPs: o.SourceIPs})
	if err != nil {
		return nil, err
	}
	defer f.close()
	m := f.open
	c := &connectResult{N: o.N, Opened: m.Opened, Failed: m.Failed, Seconds: m.OpenSeconds, InFlight: o.InFlight,
		Handshake: m.handshake.summary(), ConnectErrors: m.ConnectErrors, Timeouts: m.Timeouts, HTTPErrors: m.HandshakeErrors}
	if c.Seconds > 0 {
		c.PerSecond = float64(c.Opened) / c.Seconds
	}
	r.Connect = c
	f.socketSummary(r)
	f.finishClient(r, snap0)
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}
