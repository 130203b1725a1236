package main

import (
	"fmt"
	"time"
)

// runWhisper puts N sockets into presence rooms of --room-size members
// (auth signed by the bench with the app secret) and has them send client
// events at the offered total rate. Every whisper should reach the other
// K-1 members of its room and never its sender.
func runWhisper(o *options) (*runResult, error) {
	label := fmt.Sprintf("whisper %d members in presence rooms of %d", o.N, o.RoomSize)
	params := map[string]any{"n": o.N, "room_size": o.RoomSize, "duration": o.Duration.String(), "sweep": o.Sweep}
	r := newResult(o, label, params)
	start := time.Now()
	spec := popSpec{Targets: targetStrings(o), App: o.App, N: o.N, TotalN: o.N, RoomSize: o.RoomSize,
		InFlight: o.InFlight, SourceIPs: o.SourceIPs, KernelTS: o.KernelTS}
	f, err := openFleet(o, spec)
	if err != nil {
		return nil, err
	}
	defer f.close()
	f.socketSummary(r)
	if f.open.Subscribed == 0 {
		return r, fmt.Errorf("no socket joined a presence room: %s", f.open.LastError)
	}
	snap0, _, err := f.snapshot()
	if err != nil {
		return nil, err
	}
	step := func(rate float64, id int64) (stepResult, error) {
		if err := f.resetAll(id); err != nil {
			return stepResult{}, err
		}
		a, _, err := f.snapshot()
		if err != nil {
			return stepResult{}, err
		}
		err = forAllIndexed(f.pops, func(i int, p population) error {
			share := rate * float64(splitSpec(spec, len(f.pops))[i].N) / float64(spec.N)
			return p.setWhisperRate(share)
		})
		if err != nil {
			return stepResult{}, err
		}
		d := min(o.Duration, o.remaining())
		stop := o.progress.every(time.Second, func() string {
			return fmt.Sprintf("step %d: whispering %.0f/s, %v", id, rate, time.Since(a.at).Round(time.Second))
		})
		time.Sleep(d)
		stop()
		if err := forAll(f.pops, func(p population) error { return p.setWhisperRate(0) }); err != nil {
			return stepResult{}, err
		}
		m, _, err := f.drain(func(m mergedStats) uint64 { return m.WhisperExpected })
		if err != nil {
			return stepResult{}, err
		}
		b, _, err := f.snapshot()
		if err != nil {
			return stepResult{}, err
		}
		s := stepResult{Step: id, Offered: rate, Achieved: float64(m.WhispersSent) / d.Seconds(), Sent: m.WhispersSent,
			Expected: m.WhisperExpected, Delivered: m.Delivered, Stale: m.Stale, Echoes: m.Echoes,
			Latency: m.latency.summary(), Seconds: d.Seconds(), ServerErrors: m.ServerErrors, ClosedByServer: m.ClosedByServer,
			LastError: m.LastError}
		accountLoss(&s)
		if m.clientLag.total > 0 {
			lag := m.clientLag.summary()
			s.ClientLag = &lag
		}
		s.DeliveredRate = float64(m.Delivered) / d.Seconds()
		s.ClientCPUPct, s.ServerCPUPct = cpuPercents(a, b)
		return s, nil
	}
	// Pusher (and Resound) reject more than --client-event-limit client
	// events per socket per second with 4301; offering more would measure
	// the rate limiter, so the rate is capped below it.
	rateCap := 0.0
	if o.ClientEventLimit > 0 {
		rateCap = 0.9 * o.ClientEventLimit * float64(f.open.Subscribed)
		if !o.Sweep && o.Rate > rateCap {
			return nil, fmt.Errorf("--rate %.0f exceeds %.0f/s: %d members may send %.0f client events/s each (--client-event-limit); raise --n",
				o.Rate, rateCap, f.open.Subscribed, 0.9*o.ClientEventLimit)
		}
		r.Params["rate_cap"] = rateCap
	}
	if err := runSteps(o, r, o.Rate, step, rateCap); err != nil {
		return nil, err
	}
	stepErrors(r)
	f.finishClient(r, snap0)
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}

func forAllIndexed(pops []population, fn func(int, population) error) error {
	for i, p := range pops {
		if err := fn(i, p); err != nil {
			return err
		}
	}
	return nil
}
