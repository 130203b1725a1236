package main

import (
	"testing"
	"time"
)

// The warm-up lasts until every subscriber has been sent steadyMessages,
// never less than asked (within the step's length), and never more than
// maxWarmup unless more was asked.
func TestWarmUpReachesSteadyState(t *testing.T) {
	for _, c := range []struct {
		name            string
		asked, measured time.Duration
		rate            float64
		channels        int
		want            time.Duration
	}{
		{"1k at 50/s: the asked second is enough", time.Second, 3 * time.Second, 50, 1, time.Second},
		{"10k at 10/s: two seconds for 20 messages", time.Second, 3 * time.Second, 10, 1, 2 * time.Second},
		{"1000 channels at 1000/s: one a second each, capped", time.Second, 3 * time.Second, 1000, 1000, maxWarmup},
		{"100 channels at 1000/s", time.Second, 3 * time.Second, 1000, 100, 2 * time.Second},
		{"a short step still waits for steady state", time.Second, 300 * time.Millisecond, 10, 1, 2 * time.Second},
		{"a short step at a high rate keeps its cap", time.Second, 300 * time.Millisecond, 1000, 1, 300 * time.Millisecond},
		{"no channel count counts as one", time.Second, 3 * time.Second, 10, 0, 2 * time.Second},
		{"more asked than the cap", time.Minute, 2 * time.Minute, 1000, 1000, time.Minute},
	} {
		if got := warmUpFor(c.asked, c.measured, c.rate, c.channels); got != c.want {
			t.Errorf("%s: warm-up %v, want %v", c.name, got, c.want)
		}
	}
}
