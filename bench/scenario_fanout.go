package main

import (
	"fmt"
	"time"
)

// runFanout subscribes S sockets over C public channels and publishes
// through the signed HTTP API at the offered rate. Each message's data
// carries its send time; every receiving socket records the latency.
// Expected deliveries are the subscriber count of each published channel,
// summed over successful publishes, so loss is exact.
func runFanout(o *options) (*runResult, error) {
	if o.Channels < 1 {
		o.Channels = 1
	}
	label := fmt.Sprintf("fanout %d subscribers over %d channel(s)", o.N, o.Channels)
	params := map[string]any{"n": o.N, "channels": o.Channels, "conns": o.Conns, "duration": o.Duration.String(), "sweep": o.Sweep,
		"pad_bytes": o.PadBytes, "deflate": o.Deflate}
	if o.Sweep {
		params["p99_bound"] = o.P99Bound.String()
	}
	r := newResult(o, label, params)
	start := time.Now()
	f, step, snap0, err := openPublishFleet(o, r)
	if f != nil {
		defer f.close()
	}
	if err != nil {
		return r, err
	}
	if err := warmUp(o, step); err != nil {
		return nil, err
	}
	if err := runSteps(o, r, o.Rate, step, 0); err != nil {
		return nil, err
	}
	stepErrors(r)
	f.finishClient(r, snap0)
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}

// idleReaders decides whether the subscribers read at SCHED_IDLE: only with
// kernel timestamps, and not in a sweep. A sweep drives the server to
// saturation, where readers that get only the CPU it leaves fall behind, a
// socket's messages wait together and are timed late; that would penalise a
// server that uses every core against one that leaves a core free.
func idleReaders(o *options) bool {
	return o.IdleReaders && o.KernelTS && !o.Sweep
}

// warmUp publishes at the first step's rate, unmeasured, for --warmup
// (at most the step's length), stretched by warmUpFor until every
// subscriber is past TCP's quick-ACK start (step 0: what arrives during
// step 1 counts as stale). The first broadcasts to freshly opened sockets
// run slower for every server: a TCP connection ACKs each of the first 16
// segments it receives at once before it settles into delayed ACKs, and on
// loopback that ACK is sent and processed inside the server's write. At
// 10,000 subscribers and 10 broadcasts/s that phase lasted ~1.5 s with each
// broadcast taking ~40 % more CPU, so a 1 s warm-up left the first measured
// broadcasts in it (bench/results/20261130-1400-quickack-runs.txt).
// Subscribers of a real app stay connected for minutes; the floor is read
// on sockets past the phase as well (warmFloorSockets).
func warmUp(o *options, step stepFunc) error {
	rate := o.Rate
	if len(o.Rates) > 0 {
		rate = o.Rates[0]
	}
	if o.Warmup <= 0 || rate <= 0 {
		return nil
	}
	measured := o.Duration
	o.Duration = warmUpFor(o.Warmup, measured, rate, o.Channels, o.remaining())
	defer func() { o.Duration = measured }()
	o.progress.line(fmt.Sprintf("warm-up: %.0f/s for %v, not measured", rate, o.Duration))
	_, err := step(rate, 0)
	return err
}

// steadyMessages is how many messages every subscriber is sent before the
// measurement: past the 16 quick-ACKed segments of a new connection (its
// handshake and subscription replies count among them), with a margin.
const steadyMessages = 20

// quickAckIdle is Linux's minimum retransmission timeout (TCP_RTO_MIN): a
// socket that receives data after an idle gap longer than its timeout
// quick-ACKs again, so a subscriber sent a message less often than this
// never leaves the phase, however long the warm-up. Such scenarios (10,000
// subscribers over 1,000 channels at 1,000/s: one message a second each)
// keep the asked warm-up; their figures include the quick ACKs, as a real
// server's would for subscribers of quiet channels.
const quickAckIdle = 200 * time.Millisecond

// warmUpFor is the warm-up's length: the asked time (at most the step's
// length), stretched until each of the channels' subscribers has been sent
// steadyMessages at rate publishes/s spread over the channels, when they
// are sent one at least every quickAckIdle; never so long that less than
// the step's length is left before the run's deadline (remaining).
func warmUpFor(asked, measured time.Duration, rate float64, channels int, remaining time.Duration) time.Duration {
	d := min(asked, measured)
	if !(rate > 0) {
		return d
	}
	every := float64(max(channels, 1)) / rate // seconds between one subscriber's messages
	if every >= quickAckIdle.Seconds() {
		return d
	}
	steady := time.Duration(steadyMessages * every * float64(time.Second)) // < 4 s
	return max(d, min(steady, remaining-measured))
}

func accountLoss(s *stepResult) {
	if s.Delivered < s.Expected {
		s.Lost = s.Expected - s.Delivered
	} else {
		s.Extra = s.Delivered - s.Expected
	}
}

// stepErrors turns per-step problems into run errors. Loss and latency over
// the bound in a sweep's deliberately overloaded steps are findings, not
// errors; outside a sweep, loss on loopback is an error.
func stepErrors(r *runResult) {
	for _, s := range r.Steps {
		if s.SendErrors > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("step %d: %d failed sends: %s", s.Step, s.SendErrors, s.LastError))
		}
		if s.Echoes > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("step %d: %d client events echoed to their sender", s.Step, s.Echoes))
		}
		if s.Extra > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("step %d: %d more deliveries than expected (duplicates?)", s.Step, s.Extra))
		}
		if s.ServerErrors > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("step %d: %d pusher:error or malformed messages: %s", s.Step, s.ServerErrors, s.LastError))
		}
		if r.Sweep == nil && s.Lost > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("step %d: lost %d of %d messages", s.Step, s.Lost, s.Expected))
		}
		if s.Delivered == 0 && s.Expected > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("step %d: nothing delivered", s.Step))
		}
		if late := s.Shared + s.Untimed; r.Sweep == nil && s.Delivered > 0 && late*100 > s.Delivered {
			// A reader that fell behind (a busy box starves idle readers)
			// times earlier messages at a later one's arrival: say so next
			// to the figures it inflates.
			r.Notes = append(r.Notes, fmt.Sprintf("step %d: %d of %d deliveries timed late (read behind a later message, or without a kernel timestamp; frames a server wrote together count too): latency figures are upper bounds", s.Step, late, s.Delivered))
		}
	}
	if r.Sweep != nil && r.Sweep.BestRate == 0 && len(r.Steps) > 0 {
		r.Notes = append(r.Notes, "no step held the bound; lower --rate")
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// publishStep returns one measured step: publish to the channels at a rate
// for --duration and account every delivery to the fleet.
func publishStep(o *options, f *fleet, names []string, subs []int) func(rate float64, id int64) (stepResult, error) {
	return func(rate float64, id int64) (stepResult, error) {
		if err := f.resetAll(id); err != nil {
			return stepResult{}, err
		}
		a, _, err := f.snapshot()
		if err != nil {
			return stepResult{}, err
		}
		stop := o.progress.every(time.Second, func() string {
			return fmt.Sprintf("step %d: publishing %.0f/s to %d channel(s), %v", id, rate, len(names), time.Since(a.at).Round(time.Second))
		})
		pub := runPublishers(publishPlan{Targets: o.targets, App: o.App, Conns: o.Conns, Rate: rate,
			Duration: min(o.Duration, o.remaining()), Step: id, KeepAlive: true, SourceIPs: o.SourceIPs,
			Channels: names, Subs: subs, PadBytes: o.PadBytes})
		stop()
		m, _, err := f.drain(func(mergedStats) uint64 { return pub.Expected })
		if err != nil {
			return stepResult{}, err
		}
		b, _, err := f.snapshot()
		if err != nil {
			return stepResult{}, err
		}
		s := stepResult{Step: id, Offered: rate, Achieved: pub.achievedRate(), Sent: pub.Sent, SendErrors: pub.Errors,
			Expected: pub.Expected, Delivered: m.Delivered, Stale: m.Stale, Echoes: m.Echoes,
			Latency: m.latency.summary(), Seconds: pub.Wall.Seconds(), ServerErrors: m.ServerErrors,
			ClosedByServer: m.ClosedByServer, Dials: pub.Dials, LastError: firstNonEmpty(pub.LastError, m.LastError),
			WireBytes: m.WireBytes, Compressed: m.Compressed, Untimed: m.Untimed, Shared: m.Shared}
		req := pub.Request.summary()
		s.Request = &req
		accountLoss(&s)
		if m.clientLag.total > 0 {
			lag := m.clientLag.summary()
			s.ClientLag = &lag
		}
		if pub.Wall > 0 {
			s.DeliveredRate = float64(m.Delivered) / pub.Wall.Seconds()
		}
		s.ClientCPUPct, s.ServerCPUPct = cpuPercents(a, b)
		if a.hasServer && b.hasServer {
			s.ServerCPUSec = b.server.sub(a.server).total()
		}
		return s, nil
	}
}

// openPublishFleet opens --n subscribers over --channels and returns the
// fleet (to close, also on error), the step that publishes to their
// channels, and the servers' state before the first step.
func openPublishFleet(o *options, r *runResult) (*fleet, func(float64, int64) (stepResult, error), snapshot, error) {
	spec := popSpec{Targets: targetStrings(o), App: o.App, N: o.N, TotalN: o.N, Channels: o.Channels,
		InFlight: o.InFlight, SourceIPs: o.SourceIPs, KernelTS: o.KernelTS, Deflate: o.Deflate,
		IdleReader: idleReaders(o)}
	f, err := openFleet(o, spec)
	if err != nil {
		return nil, nil, snapshot{}, err
	}
	f.socketSummary(r)
	names, subs := channelsBySubs(spec, f.open.ChanSubs)
	if len(names) == 0 {
		return f, nil, snapshot{}, fmt.Errorf("no socket subscribed: %s", f.open.LastError)
	}
	snap0, _, err := f.snapshot()
	if err != nil {
		return f, nil, snapshot{}, err
	}
	return f, publishStep(o, f, names, subs), snap0, nil
}
