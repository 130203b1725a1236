package main

import (
	"fmt"
	"time"
)

// runPublish measures signed HTTP API publishes per second: --conns
// connections, each sending one request at a time, kept alive by default
// or (--no-keepalive) a new TCP connection per request, for comparison.
// The events go to a channel nobody subscribes to: this measures the API
// path (parse, verify signature, route), not fan-out.
func runPublish(o *options) (*runResult, error) {
	mode := "keep-alive"
	if o.NoKeepAlive {
		mode = "connection per request"
	}
	rateStr := "as fast as possible"
	if o.Rate > 0 {
		rateStr = fmt.Sprintf("%.0f/s", o.Rate)
	}
	label := fmt.Sprintf("publish over %d connection(s), %s, %s", o.Conns, mode, rateStr)
	r := newResult(o, label, map[string]any{"conns": o.Conns, "keepalive": !o.NoKeepAlive, "rate": o.Rate, "duration": o.Duration.String(),
		"pad_bytes": o.PadBytes, "channel": o.PublishChannel, "probe_up": o.ProbeUp.String()})
	start := time.Now()
	srv0, hasSrv := pidsCPU(o.ServerPIDs)
	a := snapshot{at: start, client: selfCPU(), server: srv0, hasServer: hasSrv}
	stop := o.progress.every(time.Second, func() string {
		return fmt.Sprintf("publishing (%s), %v", mode, time.Since(start).Round(time.Second))
	})
	var probe *healthProbe
	if o.ProbeUp > 0 {
		var err error
		if probe, err = startHealthProbe(o.targets[0], o.ProbeUp); err != nil {
			return nil, fmt.Errorf("starting the /up probe: %w", err)
		}
	}
	pub := runPublishers(publishPlan{Targets: o.targets, App: o.App, Conns: o.Conns, Rate: o.Rate,
		Duration: min(o.Duration, o.remaining()), Step: 1, KeepAlive: !o.NoKeepAlive, SourceIPs: o.SourceIPs, PadBytes: o.PadBytes, Channel: o.PublishChannel})
	stop()
	if probe != nil {
		h, failed := probe.finish()
		r.Health = &h
		r.Notes = append(r.Notes, fmt.Sprintf("GET /up every %v during the run: %d answered, p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d failed",
			o.ProbeUp, h.Count, h.P50Ms, h.P99Ms, h.MaxMs, failed))
		if failed > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("%d health probes failed or were not 200", failed))
		}
	}
	srv1, _ := pidsCPU(o.ServerPIDs)
	b := snapshot{at: time.Now(), client: selfCPU(), server: srv1, hasServer: hasSrv}
	req := pub.Request.summary()
	s := stepResult{Step: 1, Offered: o.Rate, Achieved: pub.achievedRate(), Sent: pub.Sent, SendErrors: pub.Errors,
		Latency: req, Request: &req, Seconds: pub.Wall.Seconds(), Dials: pub.Dials, LastError: pub.LastError}
	s.ClientCPUPct, s.ServerCPUPct = cpuPercents(a, b)
	s.WithinBound = s.SendErrors == 0 && s.Sent > 0
	r.Steps = append(r.Steps, s)
	if pub.Sent == 0 {
		r.Errors = append(r.Errors, "no publish succeeded: "+pub.LastError)
	}
	if pub.Errors > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%d failed publishes: %s", pub.Errors, pub.LastError))
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%d TCP connections dialed for %d requests", pub.Dials, pub.Sent+pub.Errors))
	r.Client = clientSummary{Procs: 1, CPU: b.client.sub(a.client), CPUPercent: s.ClientCPUPct, RSSBytes: selfRSS(),
		ServerCPU: b.server.sub(a.server), ServerCPUPc: s.ServerCPUPct}
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}
