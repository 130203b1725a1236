package main

import (
	"strings"
	"testing"
)

// A fixed-rate step with over 1 % of its deliveries timed late says so
// next to its figures; one under it, or a sweep's overloaded step, does not.
func TestTimedLateDeliveriesAreNoted(t *testing.T) {
	r := &runResult{Steps: []stepResult{
		{Step: 0, Expected: 10000, Delivered: 10000, Shared: 99},
		{Step: 1, Expected: 10000, Delivered: 10000, Shared: 150, Untimed: 2},
	}}
	stepErrors(r)
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "step 1: 152 of 10000 deliveries timed late") {
		t.Fatalf("notes %q", r.Notes)
	}
	if len(r.Errors) != 0 {
		t.Fatalf("timed-late deliveries became errors: %q", r.Errors)
	}
	sweep := &runResult{Sweep: &sweepSummary{BestRate: 100}, Steps: []stepResult{{Step: 0, Expected: 100, Delivered: 100, Shared: 50}}}
	stepErrors(sweep)
	if len(sweep.Notes) != 0 {
		t.Fatalf("a sweep step was noted: %q", sweep.Notes)
	}
}
