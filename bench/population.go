package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// population is a set of client sockets that can be measured as a unit,
// either in this process (localPop) or in a re-executed worker process
// (workerPop) when one process' file descriptor limit is not enough.
type population interface {
	open(budget time.Duration) (popStats, error)
	reset(step int64) error
	setWhisperRate(rate float64) error
	report() (popStats, error)
	close()
}

type localPop struct{ loop *clientLoop }

func newLocalPop(spec popSpec) (*localPop, error) {
	l, err := newClientLoop(spec)
	if err != nil {
		return nil, err
	}
	return &localPop{loop: l}, nil
}

func (p *localPop) open(budget time.Duration) (popStats, error) {
	p.loop.waitOpen(budget, nil)
	return p.loop.report(true), nil
}
func (p *localPop) reset(step int64) error            { p.loop.reset(step); return nil }
func (p *localPop) setWhisperRate(rate float64) error { p.loop.setWhisperRate(rate); return nil }
func (p *localPop) report() (popStats, error)         { return p.loop.report(true), nil }
func (p *localPop) close()                            { p.loop.close() }

// splitSpec cuts one population into procs consecutive index ranges.
// Presence rooms are kept whole where possible so a room's members share a
// process (not required for correctness, but it keeps rooms' timing alike).
func splitSpec(spec popSpec, procs int) []popSpec {
	if procs <= 1 {
		return []popSpec{spec}
	}
	unit := 1
	if spec.presence() {
		unit = spec.RoomSize
	}
	units := (spec.N + unit - 1) / unit
	var out []popSpec
	first := spec.FirstIndex
	end := spec.FirstIndex + spec.N
	for i := 0; i < procs && first < end; i++ {
		take := (units / procs) * unit
		if i < units%procs {
			take += unit
		}
		if i == procs-1 || first+take > end {
			take = end - first
		}
		if take <= 0 {
			continue
		}
		s := spec
		s.FirstIndex = first
		s.N = take
		s.InFlight = max(1, spec.InFlight/procs)
		out = append(out, s)
		first += take
	}
	return out
}

// startPopulations starts procs populations (0 = as many as the fd limit
// requires) and opens them all concurrently.
func startPopulations(spec popSpec, procs int, budget time.Duration, progress *progress) ([]population, []popStats, error) {
	per := socketsPerProcess()
	need := (spec.N + per - 1) / per
	if procs <= 0 {
		procs = need
		if spec.IdleReader {
			// Idle readers catch up only after the server's burst: one
			// process per core lets them use every core the server leaves,
			// so each socket is read before its next message arrives.
			procs = max(need, min(runtime.NumCPU(), spec.N))
		}
	}
	if procs < need {
		return nil, nil, fmt.Errorf("%d sockets need at least %d processes at RLIMIT_NOFILE (%d per process); got --procs %d", spec.N, need, per, procs)
	}
	specs := splitSpec(spec, procs)
	var pops []population
	for _, s := range specs {
		var p population
		var err error
		if len(specs) == 1 && !s.IdleReader {
			p, err = newLocalPop(s)
		} else {
			p, err = newWorkerPop(s)
		}
		if err != nil {
			closeAll(pops)
			return nil, nil, err
		}
		pops = append(pops, p)
	}
	stop := progress.every(time.Second, func() string {
		return fmt.Sprintf("opening %d sockets in %d process(es)...", spec.N, len(pops))
	})
	stats := make([]popStats, len(pops))
	errs := make([]error, len(pops))
	var wg sync.WaitGroup
	for i, p := range pops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], errs[i] = p.open(budget)
		}()
	}
	wg.Wait()
	stop()
	for _, err := range errs {
		if err != nil {
			closeAll(pops)
			return nil, nil, err
		}
	}
	return pops, stats, nil
}

func closeAll(pops []population) {
	var wg sync.WaitGroup
	for _, p := range pops {
		wg.Add(1)
		go func() { defer wg.Done(); p.close() }()
	}
	wg.Wait()
}

func forAll(pops []population, f func(population) error) error {
	errs := make([]error, len(pops))
	var wg sync.WaitGroup
	for i, p := range pops {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(p) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func reportAll(pops []population) ([]popStats, error) {
	out := make([]popStats, len(pops))
	errs := make([]error, len(pops))
	var wg sync.WaitGroup
	for i, p := range pops {
		wg.Add(1)
		go func() { defer wg.Done(); out[i], errs[i] = p.report() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mergedStats adds up the populations' reports.
type mergedStats struct {
	popStats
	latency, handshake, clientLag *histogram
	procs                         int
}

func mergeStats(all []popStats) mergedStats {
	m := mergedStats{latency: &histogram{}, handshake: &histogram{}, clientLag: &histogram{}, procs: len(all)}
	m.ChanSubs = map[int]int{}
	for _, s := range all {
		m.N += s.N
		m.Opened += s.Opened
		m.Failed += s.Failed
		m.Subscribed += s.Subscribed
		m.SubFailed += s.SubFailed
		m.ConnectErrors += s.ConnectErrors
		m.HandshakeErrors += s.HandshakeErrors
		m.Timeouts += s.Timeouts
		m.FDLimit += s.FDLimit
		m.ClosedByServer += s.ClosedByServer
		m.ServerErrors += s.ServerErrors
		if s.LastError != "" {
			m.LastError = s.LastError
		}
		m.OpenSeconds = max(m.OpenSeconds, s.OpenSeconds)
		for k, v := range s.ChanSubs {
			m.ChanSubs[k] += v
		}
		m.Delivered += s.Delivered
		m.Stale += s.Stale
		m.Echoes += s.Echoes
		m.WireBytes += s.WireBytes
		m.Compressed += s.Compressed
		m.Untimed += s.Untimed
		m.Shared += s.Shared
		m.WhispersSent += s.WhispersSent
		m.WhisperExpected += s.WhisperExpected
		m.latency.merge(s.Latency.toHistogram())
		m.handshake.merge(s.Handshake.toHistogram())
		m.clientLag.merge(s.ClientLag.toHistogram())
		m.CPU = m.CPU.add(s.CPU)
		m.RSSBytes += s.RSSBytes
	}
	return m
}
