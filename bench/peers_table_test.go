package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestPeerRatio(t *testing.T) {
	if r, ok := peerRatio(3, 12); !ok || r != 0.25 {
		t.Errorf("peerRatio(3, 12) = %v, %v; want 0.25, true", r, ok)
	}
	for _, c := range [][2]float64{{0, 5}, {5, 0}, {-1, 2}} {
		if _, ok := peerRatio(c[0], c[1]); ok {
			t.Errorf("peerRatio(%v, %v) reported a ratio for a missing value", c[0], c[1])
		}
	}
}

func TestFloorArithmetic(t *testing.T) {
	if got := floorPerWrite(0.5, 250_000); math.Abs(got-2) > 1e-9 {
		t.Errorf("0.5 s over 250k writes = %v µs, want 2", got)
	}
	if got := floorPerWrite(1, 0); got != 0 {
		t.Errorf("no writes must give 0, got %v", got)
	}
	if got := floorMultiple(7.4, 2); math.Abs(got-3.7) > 1e-9 {
		t.Errorf("7.4 µs over a 2 µs floor = %v, want 3.7", got)
	}
	if floorMultiple(7.4, 0) != 0 || floorMultiple(0, 2) != 0 {
		t.Error("a missing side must give no multiple")
	}
}

func TestStepCPUPerDelivery(t *testing.T) {
	s := stepResult{Delivered: 50_000, ServerCPUSec: 0.37}
	if got := stepCPUPerDelivery(s); math.Abs(got-7.4) > 1e-9 {
		t.Errorf("0.37 s for 50k deliveries = %v µs, want 7.4", got)
	}
	if stepCPUPerDelivery(stepResult{ServerCPUSec: 1}) != 0 {
		t.Error("nothing delivered must give 0, not infinity")
	}
}

func TestBestStepPrefersWithinBound(t *testing.T) {
	steps := []stepResult{
		{Step: 1, DeliveredRate: 100, WithinBound: true},
		{Step: 2, DeliveredRate: 400, WithinBound: true},
		{Step: 3, DeliveredRate: 900, WithinBound: false},
		{Step: 4, DeliveredRate: 300, WithinBound: true},
	}
	if s, ok := bestStep(steps); !ok || s.Step != 2 {
		t.Errorf("best = step %d (within %v), want step 2 within the bound", s.Step, ok)
	}
	over := []stepResult{{Step: 1, DeliveredRate: 10}, {Step: 2, DeliveredRate: 30}}
	if s, ok := bestStep(over); ok || s.Step != 2 {
		t.Errorf("with no step inside the bound: step %d (within %v), want the fastest, step 2, flagged outside", s.Step, ok)
	}
}

func TestPeerScenariosScale(t *testing.T) {
	full := peerScenarios(1)
	want := map[string][2]int{"idle": {19000, 0}, "fanout-1k-1ch": {1000, 1}, "fanout-10k-1ch": {10000, 1},
		"fanout-10k-1000ch": {10000, 1000}, "max-1k-1ch": {1000, 1}}
	for _, sc := range full {
		if w := want[sc.Key]; sc.N != w[0] || sc.Channels != w[1] {
			t.Errorf("%s: %d sockets over %d channels, want %v", sc.Key, sc.N, sc.Channels, w)
		}
	}
	for _, sc := range peerScenarios(0.1) {
		if sc.Key == "fanout-10k-1000ch" && (sc.N != 1000 || sc.Channels != 100 || sc.Rate != 1000) {
			t.Errorf("scale 0.1 must keep 10 subscribers per channel and the rate: %+v", sc)
		}
	}
	for _, sc := range peerScenarios(1e-6) {
		if sc.N < 1 || (sc.Scenario == "fanout" && sc.Channels < 1) {
			t.Errorf("a tiny scale must still leave a socket and a channel: %+v", sc)
		}
	}
}

func TestPeerTableRatiosAndFloor(t *testing.T) {
	scen := []peerScenario{
		{Key: "idle", Scenario: "idle", Label: "idle"},
		{Key: "f", Scenario: "fanout", Label: "fan"},
	}
	resound := map[string]*runResult{
		"idle": {Idle: &idleResult{RSSPerConn: 1200}},
		"f":    {Steps: []stepResult{{Delivered: 1000, ServerCPUSec: 0.008, Latency: latencySummary{P50Ms: 5, P99Ms: 9}}}},
	}
	soketi := map[string]*runResult{
		"idle": {Idle: &idleResult{RSSPerConn: 3600}},
		// no fan-out result: the cells must say so instead of inventing a ratio
	}
	rows := buildPeerRows(scen, []string{"Resound", "soketi"}, []map[string]*runResult{resound, soketi},
		map[string]floorResult{"f": {USPerWrite: 2}})
	var b bytes.Buffer
	writePeerTable(&b, []string{"Resound", "soketi"}, rows)
	out := b.String()
	for _, want := range []string{
		"| scenario | metric | Resound | soketi | Resound/soketi | floor µs/delivery | Resound × floor | soketi × floor |",
		"| idle | RSS per socket, B | 1200 | 3600 | 0.33 | - | - | - |",
		"| fan | p99 ms | 9.00 | - | - | - | - | - |",
		"| fan | server CPU µs/delivery | 8.00 | - | - | 2.00 | 4.0× | - |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestPeerTableSingleServer(t *testing.T) {
	rows := []peerRow{{Scenario: "s", Metric: "m", Values: []float64{0.25}, FloorUS: 0.125}}
	var b bytes.Buffer
	writePeerTable(&b, []string{"Resound"}, rows)
	want := "| scenario | metric | Resound | floor µs/delivery | Resound × floor |\n|---|---|---|---|---|\n| s | m | 0.250 | 0.125 | 2.0× |\n"
	if b.String() != want {
		t.Errorf("single-server table:\n%s\nwant:\n%s", b.String(), want)
	}
}
