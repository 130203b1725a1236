package main

import (
	"fmt"
	"time"
)

// fleet is all client populations of one run plus the bookkeeping shared by
// the scenarios: client/server CPU snapshots and drain-until-delivered.
type fleet struct {
	o     *options
	spec  popSpec
	pops  []population
	local bool
	open  mergedStats
}

func openFleet(o *options, spec popSpec) (*fleet, error) {
	budget := min(o.OpenBudget, o.remaining())
	spec.OpenBudget = budget
	pops, stats, err := startPopulations(spec, o.Procs, budget, o.progress)
	if err != nil {
		return nil, err
	}
	_, local := pops[0].(*localPop)
	f := &fleet{o: o, spec: spec, pops: pops, local: local, open: mergeStats(stats)}
	return f, nil
}

func (f *fleet) close() { closeAll(f.pops) }

// clientCPU is the CPU used so far by the whole client side: this process
// (publishers, and the loop when it runs here) plus any workers.
func (f *fleet) clientCPU(stats []popStats) cpuTimes {
	c := selfCPU()
	if !f.local {
		for _, s := range stats {
			c = c.add(s.CPU)
		}
	}
	return c
}

// clientRSS returns the client processes' RSS now and its growth since
// before their first socket (the per-socket cost of the client).
func (f *fleet) clientRSS(stats []popStats) (total, growth int64) {
	for _, s := range stats {
		total += s.RSSBytes
		growth += s.RSSBytes - s.RSSBaseBytes
	}
	return total, growth
}

// snapshot is CPU of client and server at one instant.
type snapshot struct {
	at        time.Time
	client    cpuTimes
	server    cpuTimes
	hasServer bool
}

func (f *fleet) snapshot() (snapshot, []popStats, error) {
	stats, err := reportAll(f.pops)
	if err != nil {
		return snapshot{}, nil, err
	}
	s := snapshot{at: time.Now(), client: f.clientCPU(stats)}
	s.server, s.hasServer = pidsCPU(f.o.ServerPIDs)
	return s, stats, nil
}

// cpuPercents returns client and server CPU between two snapshots, as
// percent of one core (200% = both cores of this machine).
func cpuPercents(a, b snapshot) (client, server float64) {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0, 0
	}
	client = b.client.sub(a.client).total() / wall * 100
	if a.hasServer && b.hasServer {
		server = b.server.sub(a.server).total() / wall * 100
	}
	return client, server
}

// drain waits until populations have received what they should (expected
// may grow while whispers are still counted, so it is re-read), or the drain
// budget is spent. It returns the last merged report.
func (f *fleet) drain(expected func(mergedStats) uint64) (mergedStats, []popStats, error) {
	deadline := time.Now().Add(min(f.o.Drain, max(time.Second, f.o.remaining())))
	for {
		stats, err := reportAll(f.pops)
		if err != nil {
			return mergedStats{}, nil, err
		}
		m := mergeStats(stats)
		if m.Delivered >= expected(m) || time.Now().After(deadline) {
			return m, stats, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *fleet) resetAll(step int64) error {
	return forAll(f.pops, func(p population) error { return p.reset(step) })
}

// socketSummary describes the open result and flags failures as errors.
func (f *fleet) socketSummary(r *runResult) {
	m := f.open
	r.Sockets = &socketSummary{Requested: f.spec.N, Opened: m.Opened, Failed: m.Failed, Subscribed: m.Subscribed,
		SubFailed: m.SubFailed, Procs: m.procs, LastError: m.LastError}
	if m.Failed > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%d of %d sockets failed to open (connect %d, handshake %d, timeout %d, fd limit %d): %s",
			m.Failed, f.spec.N, m.ConnectErrors, m.HandshakeErrors, m.Timeouts, m.FDLimit, m.LastError))
	}
	if m.SubFailed > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%d subscriptions refused: %s", m.SubFailed, m.LastError))
	}
	wantSubs := 0
	if f.spec.Channels > 0 || f.spec.presence() {
		wantSubs = m.Opened
	}
	if m.Subscribed < wantSubs-m.SubFailed {
		r.Errors = append(r.Errors, fmt.Sprintf("only %d of %d sockets subscribed in time", m.Subscribed, wantSubs))
	}
}

// finishClient fills the client summary from a final report.
func (f *fleet) finishClient(r *runResult, start snapshot) {
	end, stats, err := f.snapshot()
	if err != nil {
		r.Errors = append(r.Errors, "final report: "+err.Error())
		return
	}
	r.Client.Procs = len(f.pops)
	r.Client.CPU = end.client.sub(start.client)
	r.Client.CPUPercent, r.Client.ServerCPUPc = cpuPercents(start, end)
	if end.hasServer {
		r.Client.ServerCPU = end.server.sub(start.server)
	}
	var growth int64
	r.Client.RSSBytes, growth = f.clientRSS(stats)
	if f.open.Opened > 0 {
		r.Client.RSSPerSock = float64(growth) / float64(f.open.Opened)
	}
	m := mergeStats(stats)
	if m.ClosedByServer > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("server closed %d sockets during the run: %s", m.ClosedByServer, m.LastError))
	}
}
