package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPeersSmoke builds ./cmd/resound and runs the peers comparison tiny.
// soketi joins only when `make bench-peers` has installed it into
// bench/peers/node_modules; tests never install it, so a machine without it
// (CI) compares Resound with the write loop alone and says so.
func TestPeersSmoke(t *testing.T) {
	root := repoRoot(t)
	bin := buildServer(t, root)
	soketiDir := filepath.Join(root, "bench", "peers")
	want := []string{"Resound"}
	if sb, why := soketiBin(soketiDir); sb == "" {
		t.Logf("soketi skipped: %s", why)
	} else {
		want = append(want, "soketi")
	}
	want = append(want, writeLoopName)
	results := t.TempDir()
	c := &peersConfig{Scale: 0.002, Duration: time.Second, MaxSteps: 2, P99Bound: time.Second,
		FloorBudget: 20 * time.Millisecond, ServerBin: bin, SoketiDir: soketiDir, ResultsDir: results,
		Timeout: 3 * time.Minute, Quiet: true}
	var out strings.Builder
	rep, err := runPeers(c, nil, io.MultiWriter(&out, testLog{t}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	if strings.Join(rep.Servers, ",") != strings.Join(want, ",") {
		t.Errorf("servers %v, want %v", rep.Servers, want)
	}
	var ran []string
	for key := range rep.Results[writeLoopName] {
		ran = append(ran, key)
	}
	slices.Sort(ran)
	if want := "fanout-10k-1000ch,fanout-10k-1ch,fanout-1k-1ch"; strings.Join(ran, ",") != want {
		t.Errorf("the write loop ran %v, want the three fan-outs at fixed rates (%s)", ran, want)
	}
	fanouts := map[string]bool{} // labels of the scenarios the write loop runs
	for _, sc := range rep.Scenarios {
		fanouts[sc.Label] = slices.Contains(ran, sc.Key)
	}
	for _, row := range rep.Rows {
		for i, v := range row.Values {
			// An RSS delta over a handful of sockets may round to a page or
			// less; every latency, rate and CPU figure must be there. The
			// write loop measures the fan-outs and nothing else.
			if rep.Servers[i] == writeLoopName && !fanouts[row.Scenario] {
				if v != 0 {
					t.Errorf("%s / %s: the write loop has a figure (%v) for a scenario it must not run", row.Scenario, row.Metric, v)
				}
				continue
			}
			if v <= 0 && !strings.HasPrefix(row.Metric, "RSS") && !strings.Contains(row.Metric, "CPU") {
				t.Errorf("%s / %s: %s measured nothing", row.Scenario, row.Metric, rep.Servers[i])
			}
		}
		if strings.Contains(row.Metric, "CPU") && row.FloorUS <= 0 {
			t.Errorf("%s / %s has no write(2) floor", row.Scenario, row.Metric)
		}
	}
	// A reading of each floor before the servers and after each one: three
	// or more here, as the write loop always runs. (With one server alone,
	// --no-soketi --no-write-loop, peers reads once more at the end.) The
	// table's floor is the median of the write(2) readings.
	wantReadings := max(3, len(want)+1)
	for _, row := range rep.Rows {
		if !strings.Contains(row.Metric, "CPU") {
			continue
		}
		var key string
		for _, sc := range rep.Scenarios {
			if sc.Label == row.Scenario {
				key = sc.Key
			}
		}
		f, sf := rep.Floors[key], rep.SendFloors[key]
		if len(f.Readings) != wantReadings || len(sf.Readings) != wantReadings {
			t.Errorf("%s: %d write(2) and %d send(2) floor readings, want %d each", key, len(f.Readings), len(sf.Readings), wantReadings)
			continue
		}
		if f.Syscall != floorWrite || sf.Syscall != floorSend {
			t.Errorf("%s: floors timed %q and %q", key, f.Syscall, sf.Syscall)
		}
		sorted := slices.Clone(f.Readings)
		slices.Sort(sorted)
		k := len(sorted)
		if median := (sorted[(k-1)/2] + sorted[k/2]) / 2; row.FloorUS != median {
			t.Errorf("%s / %s: floor %v, want the median of %v", row.Scenario, row.Metric, row.FloorUS, f.Readings)
		}
	}
	if len(rep.Rows) != 15 {
		t.Errorf("%d rows, want 15 (idle with no, a private and a presence channel 1 each, three fan-outs 3 each, sweep 3)", len(rep.Rows))
	}
	files, _ := filepath.Glob(filepath.Join(results, "*-peers.json"))
	if len(files) != 1 {
		t.Fatalf("want one peers JSON in %s, got %v", results, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var saved peersReport
	if err := json.Unmarshal(b, &saved); err != nil || len(saved.Rows) != len(rep.Rows) {
		t.Errorf("saved JSON: %d rows, %v", len(saved.Rows), err)
	}
	if !strings.Contains(out.String(), "floor µs/delivery") {
		t.Errorf("printed table has no floor column:\n%s", out.String())
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }
