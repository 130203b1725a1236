package main

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestSweepSVGIsWellFormed(t *testing.T) {
	r := &runResult{Label: "fanout <test> & co", Sweep: &sweepSummary{P99BoundMs: 50, BestRate: 40}}
	for i, rate := range []float64{10, 20, 40, 80} {
		r.Steps = append(r.Steps, stepResult{Offered: rate, Latency: latencySummary{Count: 10,
			P50Ms: float64(i + 1), P90Ms: float64(i+1) * 2, P99Ms: float64(i+1) * 5, P999Ms: float64(i+1) * 8, MaxMs: float64(i+1) * 10}})
	}
	svg := sweepSVG(r)
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
	for _, want := range []string{"<polyline", "p99 bound 50 ms", "best 40/s", "&lt;test&gt;"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}
