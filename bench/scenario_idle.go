package main

import (
	"fmt"
	"time"
)

// runIdle opens N sockets, optionally subscribed over C channels of one
// kind, and reports server memory per socket as the delta from before they
// opened: RSS as an operator's ps sees it (no forced GC, so handshake
// garbage and retained buffers count), then RSS and Go heap after a forced
// GC (GET /stats?gc=1), which is live memory only.
func runIdle(o *options) (*runResult, error) {
	label := fmt.Sprintf("idle %d sockets, %d %s channels", o.N, o.Channels, o.Kind)
	r := newResult(o, label, map[string]any{"n": o.N, "channels": o.Channels, "kind": o.Kind, "procs": o.Procs, "inflight": o.InFlight})
	start := time.Now()
	rawBefore, rawOK := readServerRSSNoGC(o)
	before, err := readServerMem(o)
	if err != nil {
		return nil, err
	}
	spec := popSpec{Targets: targetStrings(o), App: o.App, N: o.N, TotalN: o.N, Channels: o.Channels,
		InFlight: o.InFlight, SourceIPs: o.SourceIPs, Private: o.Kind == "private", Deflate: o.Deflate}
	if o.Kind == "presence" && o.Channels > 0 {
		spec.RoomSize = (o.N + o.Channels - 1) / o.Channels // one user per socket, rooms of this many
	}
	f, err := openFleet(o, spec)
	if err != nil {
		return nil, err
	}
	defer f.close()
	snap0, _, err := f.snapshot()
	if err != nil {
		return nil, err
	}
	f.socketSummary(r)
	time.Sleep(min(time.Second, o.remaining())) // let the server finish post-handshake work
	rawAfter, rawAfterOK := readServerRSSNoGC(o)
	after, err := readServerMem(o)
	if err != nil {
		return nil, err
	}
	n := f.open.Opened
	idle := &idleResult{N: n, Channels: o.Channels, Kind: o.Kind, Before: before, After: after, ServerConns: after.Connections}
	if n > 0 {
		per := func(a, b int64) float64 { return float64(b-a) / float64(n) }
		if rawOK && rawAfterOK {
			idle.RSSNoGCPerConn = per(rawBefore, rawAfter)
		}
		idle.RSSPerConn = per(before.RSS, after.RSS)
		idle.HeapPerConn = per(before.HeapInuse, after.HeapInuse)
		idle.ObjectsPerCon = per(before.HeapObjects, after.HeapObjects)
		idle.StackPerConn = per(before.StackInuse, after.StackInuse)
		idle.GoroutinesAdd = after.Goroutines - before.Goroutines
	}
	if after.Source == "stats" && after.Connections < int64(n) {
		r.Errors = append(r.Errors, fmt.Sprintf("server reports %d connections, client holds %d", after.Connections, n))
	}
	r.Idle = idle
	r.Notes = append(r.Notes, "RSS per socket is user-space only; the kernel adds ~3.7-5 KB per socket (slab), not visible in RSS")
	o.progress.line(fmt.Sprintf("holding %d sockets for %v", n, o.Hold))
	time.Sleep(min(o.Hold, o.remaining()))
	f.finishClient(r, snap0)
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}

func targetStrings(o *options) []string {
	var s []string
	for _, t := range o.targets {
		s = append(s, t.HostPort)
	}
	return s
}
