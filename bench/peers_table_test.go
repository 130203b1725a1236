package main

import (
	"bytes"
	"math"
	"slices"
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
	want := map[string][2]int{"idle": {19000, 0}, "idle-private": {19000, 19000}, "idle-presence": {19000, 19000},
		"fanout-1k-1ch": {1000, 1}, "fanout-10k-1ch": {10000, 1}, "fanout-10k-1000ch": {10000, 1000}, "max-1k-1ch": {1000, 1}}
	if len(full) != len(want) {
		t.Errorf("%d scenarios, want %d", len(full), len(want))
	}
	for _, sc := range full {
		if w, ok := want[sc.Key]; !ok || sc.N != w[0] || sc.Channels != w[1] {
			t.Errorf("%s: %d sockets over %d channels, want %v", sc.Key, sc.N, sc.Channels, w)
		}
	}
	for _, sc := range peerScenarios(0.1) {
		if sc.Key == "fanout-10k-1000ch" && (sc.N != 1000 || sc.Channels != 100 || sc.Rate != 1000) {
			t.Errorf("scale 0.1 must keep 10 subscribers per channel and the rate: %+v", sc)
		}
		if sc.Key == "idle-presence" && sc.Channels != sc.N {
			t.Errorf("scale 0.1 must keep one presence room per socket: %+v", sc)
		}
	}
	for _, sc := range peerScenarios(1e-6) {
		if sc.N < 1 || (sc.Scenario == "fanout" && sc.Channels < 1) {
			t.Errorf("a tiny scale must still leave a socket and a channel: %+v", sc)
		}
	}
}

// Each memory figure is a delta over a server process that has held nothing
// yet, and every kind of channel is measured once.
func TestPeerMemoryScenariosEachGetAFreshServer(t *testing.T) {
	kinds := map[string]bool{}
	for _, sc := range peerScenarios(1) {
		if sc.Scenario != "idle" {
			continue
		}
		if !sc.Fresh {
			t.Errorf("%s runs on a server that already held sockets", sc.Key)
		}
		if kinds[sc.Kind] {
			t.Errorf("kind %q measured twice", sc.Kind)
		}
		kinds[sc.Kind] = true
		if (sc.Kind == "public") != (sc.Channels == 0) {
			t.Errorf("%s: kind %s with %d channels; want none for idle, one per socket otherwise", sc.Key, sc.Kind, sc.Channels)
		}
	}
	for _, k := range []string{"public", "private", "presence"} {
		if !kinds[k] {
			t.Errorf("no memory scenario for %s", k)
		}
	}
}

// A presence channel per socket must be a room of one: the popSpec the idle
// scenario derives gives socket i its own presence-bench-i, inside soketi's
// default limit of 100 members and 200-character names.
func TestPeerPresenceRoomsOfOne(t *testing.T) {
	for _, sc := range peerScenarios(1) {
		if sc.Kind != "presence" {
			continue
		}
		spec := popSpec{N: sc.N, TotalN: sc.N, Channels: sc.Channels, RoomSize: (sc.N + sc.Channels - 1) / sc.Channels}
		if spec.RoomSize != 1 {
			t.Fatalf("room size %d, want 1", spec.RoomSize)
		}
		last := sc.N - 1
		if name := spec.channelName(spec.channelOf(last)); name != "presence-bench-18999" || len(name) > 200 {
			t.Errorf("socket %d joins %q", last, name)
		}
		if spec.roomMembers(last) != 1 {
			t.Errorf("last room has %d members, want 1", spec.roomMembers(last))
		}
	}
}

func TestPeerTableRatiosAndFloor(t *testing.T) {
	scen := []peerScenario{
		{Key: "idle", Scenario: "idle", Label: "idle"},
		{Key: "idle-presence", Scenario: "idle", Kind: "presence", Label: "presence"},
		{Key: "f", Scenario: "fanout", Label: "fan"},
	}
	resound := map[string]*runResult{
		"idle":          {Idle: &idleResult{RSSPerConn: 1200}},
		"idle-presence": {Idle: &idleResult{RSSPerConn: 4700}},
		"f":             {Steps: []stepResult{{Delivered: 1000, ServerCPUSec: 0.008, Latency: latencySummary{P50Ms: 5, P99Ms: 9}}}},
	}
	soketi := map[string]*runResult{
		"idle":          {Idle: &idleResult{RSSPerConn: 3600}},
		"idle-presence": {Idle: &idleResult{RSSPerConn: 9400}},
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
		"| presence | RSS per socket, B | 4700 | 9400 | 0.50 | - | - | - |",
		"| fan | p99 ms | 9.00 | - | - | - | - | - |",
		"| fan | server CPU µs/delivery | 8.00 | - | - | 2.00 | 4.00× | - |",
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
	want := "| scenario | metric | Resound | floor µs/delivery | Resound × floor |\n|---|---|---|---|---|\n| s | m | 0.250 | 0.125 | 2.00× |\n"
	if b.String() != want {
		t.Errorf("single-server table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// The write-loop server is a third column with fan-out figures only: the
// table compares Resound with each other server, and a reference's missing
// memory rows stay empty.
func TestPeerTableWithWriteLoop(t *testing.T) {
	scen := []peerScenario{
		{Key: "idle", Scenario: "idle", Label: "idle"},
		{Key: "f", Scenario: "fanout", Label: "fan"},
	}
	fan := func(cpu float64) *runResult {
		return &runResult{Steps: []stepResult{{Delivered: 1000, ServerCPUSec: cpu, Latency: latencySummary{P50Ms: 5, P99Ms: 9}}}}
	}
	servers := []string{"Resound", "soketi", writeLoopName}
	results := []map[string]*runResult{
		{"idle": {Idle: &idleResult{RSSPerConn: 1200}}, "f": fan(0.0046)},
		{"idle": {Idle: &idleResult{RSSPerConn: 3600}}, "f": fan(0.0064)},
		{"f": fan(0.0052)},
	}
	rows := buildPeerRows(scen, servers, results, map[string]floorResult{"f": {USPerWrite: 4}})
	var b bytes.Buffer
	writePeerTable(&b, servers, rows)
	out := b.String()
	for _, want := range []string{
		"| scenario | metric | Resound | soketi | write loop | Resound/soketi | Resound/write loop | floor µs/delivery | Resound × floor | soketi × floor | write loop × floor |",
		"| idle | RSS per socket, B | 1200 | 3600 | - | 0.33 | - | - | - | - | - |",
		"| fan | server CPU µs/delivery | 4.60 | 6.40 | 5.20 | 0.72 | 0.88 | 4.00 | 1.15× | 1.60× | 1.30× |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteLoopRunsOnlyTheFanOuts(t *testing.T) {
	ref := peerServer{name: writeLoopName, fanOutsOnly: true}
	server := peerServer{name: "Resound"}
	fanOuts := []string{"fanout-1k-1ch", "fanout-10k-1ch", "fanout-10k-1000ch"}
	for _, sc := range peerScenarios(1) {
		want := slices.Contains(fanOuts, sc.Key)
		if ref.runs(sc) != want {
			t.Errorf("write loop runs %s: %v, want %v", sc.Key, ref.runs(sc), want)
		}
		if !server.runs(sc) {
			t.Errorf("a server must run every scenario; skipped %s", sc.Key)
		}
	}
}
