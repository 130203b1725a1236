package main

import (
	"fmt"
	"time"
)

// stepFunc runs one measurement step at rate and returns its result.
type stepFunc func(rate float64, step int64) (stepResult, error)

// judge marks a step as within the bound: nothing lost or failed, the
// offered rate actually achieved, and p99 under the bound.
func judge(s *stepResult, bound time.Duration) {
	s.WithinBound = s.Lost == 0 && s.SendErrors == 0 && s.Delivered > 0 &&
		s.Achieved >= 0.9*s.Offered && s.Latency.P99Ms <= float64(bound)/float64(time.Millisecond)
}

// runSteps runs a single step, or with --sweep searches for the highest
// rate within the bound: multiply by --step-factor while under it, then
// bisect between the best good and the first bad rate.
//
// rateCap (0 = none) is the highest rate the scenario may offer, e.g. the
// per-socket client event limit times the sockets; the sweep stops there.
func runSteps(o *options, r *runResult, start float64, step stepFunc, rateCap float64) error {
	stepBudget := o.Duration + o.Drain + 2*time.Second
	if !o.Sweep {
		s, err := step(start, 1)
		if err != nil {
			return err
		}
		judge(&s, o.P99Bound)
		r.Steps = append(r.Steps, s)
		return nil
	}
	sw := &sweepSummary{P99BoundMs: float64(o.P99Bound) / float64(time.Millisecond)}
	r.Sweep = sw
	if len(o.Rates) > 0 {
		return runRateList(o, r, step, rateCap, stepBudget)
	}
	good, bad := 0.0, 0.0
	rate := start
	if rateCap > 0 {
		rate = min(rate, rateCap)
	}
	for i := 1; i <= o.MaxSteps; i++ {
		if o.remaining() < stepBudget {
			r.Notes = append(r.Notes, "sweep stopped early: --timeout reached")
			break
		}
		o.progress.line(fmt.Sprintf("step %d: rate %.0f/s for %v", i, rate, o.Duration))
		s, err := step(rate, int64(i))
		if err != nil {
			return err
		}
		judge(&s, o.P99Bound)
		r.Steps = append(r.Steps, s)
		o.progress.logf("step %d: offered %.0f/s achieved %.0f/s delivered %.0f/s lost %d p99 %.2fms ok=%v",
			i, s.Offered, s.Achieved, s.DeliveredRate, s.Lost, s.Latency.P99Ms, s.WithinBound)
		if s.WithinBound {
			if rate > good {
				good = rate
				sw.BestRate = rate
				sw.BestDelivery = s.DeliveredRate
			}
		} else if bad == 0 || rate < bad {
			bad = rate
		}
		switch {
		case bad == 0 && rateCap > 0 && rate >= rateCap:
			r.Notes = append(r.Notes, fmt.Sprintf("sweep stopped at the rate cap %.0f/s, still within the bound", rateCap))
			return nil
		case bad == 0:
			rate *= o.StepFactor
			if rateCap > 0 {
				rate = min(rate, rateCap)
			}
		case good == 0:
			rate = bad / o.StepFactor
			if rate < 1 {
				return nil
			}
		default:
			if bad/good < 1.15 {
				sw.FirstBadRate = bad
				return nil // close enough: further bisection is noise
			}
			rate = (good + bad) / 2
		}
		if rate > maxRate {
			break
		}
	}
	sw.FirstBadRate = bad
	return nil
}

// runRateList runs every rate of --rates in order (a fixed ladder shows how
// latency grows even when no rate holds the bound) and records the best
// rate within it.
func runRateList(o *options, r *runResult, step stepFunc, rateCap float64, stepBudget time.Duration) error {
	sw := r.Sweep
	for i, rate := range o.Rates {
		if rateCap > 0 && rate > rateCap {
			r.Notes = append(r.Notes, fmt.Sprintf("rates above the cap %.0f/s skipped", rateCap))
			break
		}
		if o.remaining() < stepBudget {
			r.Notes = append(r.Notes, "rate list stopped early: --timeout reached")
			break
		}
		s, err := step(rate, int64(i+1))
		if err != nil {
			return err
		}
		judge(&s, o.P99Bound)
		r.Steps = append(r.Steps, s)
		o.progress.logf("step %d: offered %.0f/s achieved %.0f/s delivered %.0f/s lost %d p99 %.2fms ok=%v",
			i+1, s.Offered, s.Achieved, s.DeliveredRate, s.Lost, s.Latency.P99Ms, s.WithinBound)
		if s.WithinBound && rate > sw.BestRate {
			sw.BestRate, sw.BestDelivery = rate, s.DeliveredRate
		}
		if !s.WithinBound && sw.FirstBadRate == 0 {
			sw.FirstBadRate = rate
		}
	}
	return nil
}
