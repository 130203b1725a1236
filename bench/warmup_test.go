package main

import (
	"math"
	"testing"
	"time"
)

// The warm-up lasts until every subscriber has been sent steadyMessages,
// when they come often enough to leave TCP's quick-ACK phase at all; never
// less than asked (within the step's length), and never so long that the
// step would not fit before the run's deadline.
func TestWarmUpReachesSteadyState(t *testing.T) {
	const plenty = time.Hour
	for _, c := range []struct {
		name            string
		asked, measured time.Duration
		rate            float64
		channels        int
		remaining       time.Duration
		want            time.Duration
	}{
		{"1k at 50/s: the asked second is enough", time.Second, 3 * time.Second, 50, 1, plenty, time.Second},
		{"10k at 10/s: two seconds for 20 messages", time.Second, 3 * time.Second, 10, 1, plenty, 2 * time.Second},
		{"100 channels at 1000/s", time.Second, 3 * time.Second, 1000, 100, plenty, 2 * time.Second},
		{"19 channels at 100/s: one each 190 ms", time.Second, 3 * time.Second, 100, 19, plenty, 3800 * time.Millisecond},
		{"1000 channels at 1000/s: quick-ACK on every message, as asked", time.Second, 3 * time.Second, 1000, 1000, plenty, time.Second},
		{"1000 channels at 500/s: as asked", time.Second, 3 * time.Second, 500, 1000, plenty, time.Second},
		{"a short step still waits for steady state", time.Second, 300 * time.Millisecond, 10, 1, plenty, 2 * time.Second},
		{"a short step at a high rate keeps its cap", time.Second, 300 * time.Millisecond, 1000, 1, plenty, 300 * time.Millisecond},
		{"no channel count counts as one", time.Second, 3 * time.Second, 10, 0, plenty, 2 * time.Second},
		{"more asked than needed", 5 * time.Second, 10 * time.Second, 10, 1, plenty, 5 * time.Second},
		{"the deadline leaves room for the step", time.Second, 3 * time.Second, 10, 1, 4500 * time.Millisecond, 1500 * time.Millisecond},
		{"a deadline too close keeps the asked time", time.Second, 3 * time.Second, 10, 1, 2 * time.Second, time.Second},
		{"no rate", time.Second, 3 * time.Second, 0, 1, plenty, time.Second},
		{"a rate that is not a number", time.Second, 3 * time.Second, math.NaN(), 1, plenty, time.Second},
		{"a tiny rate", time.Second, 3 * time.Second, 1e-9, 1, plenty, time.Second},
	} {
		if got := warmUpFor(c.asked, c.measured, c.rate, c.channels, c.remaining); got != c.want {
			t.Errorf("%s: warm-up %v, want %v", c.name, got, c.want)
		}
	}
}
