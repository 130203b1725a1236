package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// peersConfig is what `bench peers` runs: the same scenarios, with the same
// client, against Resound, then soketi, then the fan-outs against the
// write-loop server, one server at a time.
type peersConfig struct {
	Scale       float64
	Duration    time.Duration
	MaxSteps    int
	P99Bound    time.Duration
	FloorBudget time.Duration
	ServerBin   string
	SoketiDir   string
	NoSoketi    bool
	NoWriteLoop bool
	ResultsDir  string
	Timeout     time.Duration
	Quiet       bool
}

// peersReport is the JSON saved under bench/results/.
type peersReport struct {
	Started   time.Time              `json:"started"`
	Args      []string               `json:"args"`
	Scale     float64                `json:"scale"`
	Duration  string                 `json:"duration_per_step"`
	Servers   []string               `json:"servers"`
	Versions  map[string]string      `json:"versions"`
	Scenarios []peerScenario         `json:"scenarios"`
	Floors    map[string]floorResult `json:"floors"`
	// SendFloors are the same floors with send(2), which Resound's
	// broadcasts call; the table's multiples are of the write(2) floor.
	SendFloors map[string]floorResult           `json:"send_floors"`
	Rows       []peerRow                        `json:"rows"`
	Results    map[string]map[string]*runResult `json:"results"`
	LoadAvg    []string                         `json:"loadavg_before_after"`
	Notes      []string                         `json:"notes,omitempty"`
	Errors     []string                         `json:"errors,omitempty"`
}

func parsePeers(args []string, stderr io.Writer) (*peersConfig, error) {
	c := &peersConfig{}
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&c.Scale, "scale", 1, "multiply every socket and channel count (0.1 = 1,900 idle sockets, 100 and 1,000 subscribers); rates stay")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "measurement time per step (sweep steps too)")
	fs.IntVar(&c.MaxSteps, "max-steps", 8, "most-deliveries sweep: maximum steps (rate doubles from 50/s, then bisects)")
	fs.DurationVar(&c.P99Bound, "p99", 50*time.Millisecond, "most-deliveries sweep: p99 latency bound")
	fs.DurationVar(&c.FloorBudget, "floor-budget", time.Second, "CPU time spent measuring each write(2) floor")
	fs.StringVar(&c.ServerBin, "server-bin", "bin/resound", "resound binary")
	fs.StringVar(&c.SoketiDir, "soketi-dir", "bench/peers", "directory whose node_modules holds soketi (npm ci there)")
	fs.BoolVar(&c.NoSoketi, "no-soketi", false, "leave soketi out")
	fs.BoolVar(&c.NoWriteLoop, "no-write-loop", false, "leave out the write-loop server (a minimal server, one write(2) per subscriber; fan-out scenarios only)")
	fs.StringVar(&c.ResultsDir, "results", "bench/results", "directory for the JSON and the table")
	fs.DurationVar(&c.Timeout, "timeout", 20*time.Minute, "hard cap on the whole run (max 30m)")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress output")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case c.Scale <= 0 || c.Scale > 1:
		return nil, fmt.Errorf("--scale must be in (0, 1]: 1 is 19k idle sockets, the most one server process may hold here")
	case c.Duration <= 0 || c.Duration > maxDuration:
		return nil, fmt.Errorf("--duration must be in (0, %v]", maxDuration)
	case c.MaxSteps < 1 || c.MaxSteps > maxSteps:
		return nil, fmt.Errorf("--max-steps must be 1..%d", maxSteps)
	case c.Timeout <= 0 || c.Timeout > maxTimeout:
		return nil, fmt.Errorf("--timeout must be in (0, %v]", maxTimeout)
	case c.FloorBudget <= 0 || c.FloorBudget > time.Minute:
		return nil, fmt.Errorf("--floor-budget must be in (0, 1m]")
	}
	return c, nil
}

func peersMain(args []string, stdout, stderr io.Writer) int {
	c, err := parsePeers(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench peers:", err)
		return 2
	}
	watchdog := time.AfterFunc(c.Timeout+time.Minute, func() {
		fmt.Fprintln(stderr, "bench: hard timeout reached, exiting")
		os.Exit(4)
	})
	defer watchdog.Stop()
	rep, err := runPeers(c, args, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "bench peers:", err)
		return 1
	}
	if len(rep.Errors) > 0 {
		return 3
	}
	return 0
}

// soketiBin is the installed soketi launcher, or "" with the reason.
func soketiBin(dir string) (string, string) {
	bin := filepath.Join(dir, "node_modules", ".bin", "soketi")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Sprintf("soketi is not installed in %s (make bench-peers runs npm ci there); running without it", dir)
	}
	return bin, ""
}

// peerServer starts one server on a free loopback port with the bench app.
// A measuring stick like the write loop is not a server one would run, so
// only its fan-outs at fixed rates mean something: its memory and the rate
// it saturates at would describe the stick.
type peerServer struct {
	name        string
	version     string
	start       func() (*serverProc, error)
	fanOutsOnly bool
}

func (s peerServer) runs(sc peerScenario) bool {
	return !s.fanOutsOnly || (sc.Scenario == "fanout" && !sc.Sweep)
}

func runPeers(c *peersConfig, args []string, stdout io.Writer) (*peersReport, error) {
	prog := newProgress(c.Quiet)
	base := &options{Quiet: c.Quiet, progress: prog, deadline: time.Now().Add(c.Timeout)}
	rep := &peersReport{Started: time.Now().UTC(), Args: args, Scale: c.Scale, Duration: c.Duration.String(),
		Versions: map[string]string{}, Floors: map[string]floorResult{}, Results: map[string]map[string]*runResult{}}
	rep.LoadAvg = append(rep.LoadAvg, loadAvg())
	bin, err := filepath.Abs(c.ServerBin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("server binary %s: %v (build it: go build -o bin/resound ./cmd/resound)", bin, err)
	}
	servers := []peerServer{{name: "Resound", version: bin, start: func() (*serverProc, error) { return startServer(bin) }}}
	if c.NoSoketi {
		rep.Notes = append(rep.Notes, "soketi skipped (--no-soketi)")
	} else if sb, why := soketiBin(c.SoketiDir); sb == "" {
		rep.Notes = append(rep.Notes, why)
		prog.logf("peers: %s", why)
	} else {
		servers = append(servers, peerServer{name: "soketi", version: soketiVersion(c.SoketiDir),
			start: func() (*serverProc, error) { return startSoketi(sb) }})
	}
	if c.NoWriteLoop {
		rep.Notes = append(rep.Notes, "write-loop server skipped (--no-write-loop)")
	} else {
		servers = append(servers, peerServer{name: writeLoopName, version: writeLoopVersion(), fanOutsOnly: true,
			start: startWriteLoop})
	}
	rep.Scenarios = peerScenarios(c.Scale)
	// The floors are read while no server is running: before the first, after
	// each, and again at the end until there are three readings. One reading
	// at 1,000 sockets moved by up to 40 % between runs on this shared box,
	// more than the margins it is compared with, so the table uses the
	// median. A reading that fails after a server has run is an error in
	// the report, not the end of the run: the servers' figures stand.
	floorNs := fanoutSizes(rep.Scenarios)
	readings := map[floorSyscall]map[int][]floorResult{floorWrite: {}, floorSend: {}}
	readFloors := func(when string) error {
		for _, n := range floorNs {
			for _, sys := range []floorSyscall{floorWrite, floorSend} {
				prog.logf("peers: %s floor for %d sockets (%s)", sys, n, when)
				f, err := measureFloor(n, c.FloorBudget, sys)
				if err != nil {
					return fmt.Errorf("%s floor for %d sockets (%s): %w", sys, n, when, err)
				}
				readings[sys][n] = append(readings[sys][n], f)
			}
		}
		return nil
	}
	if err := readFloors("before the servers"); err != nil {
		return nil, err
	}
	var results []map[string]*runResult
	for _, s := range servers {
		rep.Servers = append(rep.Servers, s.name)
		rep.Versions[s.name] = s.version
		res, errs, err := runPeerServer(c, base, s, rep.Scenarios)
		if err != nil {
			// One server failing to start must not lose the other's figures.
			errs = append(errs, fmt.Sprintf("%s: %v", s.name, err))
			res = map[string]*runResult{}
		}
		rep.Results[s.name] = res
		results = append(results, res)
		rep.Errors = append(rep.Errors, errs...)
		when := "between the servers"
		if len(rep.Servers) == len(servers) {
			when = "after the servers"
		}
		if err := readFloors(when); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		}
		for _, sc := range rep.Scenarios {
			if r := res[sc.Key]; r != nil {
				for _, n := range r.Notes {
					rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s: %s", s.name, sc.Key, n))
				}
			}
		}
	}
	// With one server there are two readings so far, whose median would be
	// their mean: a third makes one outlier count for nothing.
	for len(servers) < 2 && len(floorNs) > 0 && len(readings[floorWrite][floorNs[0]]) < 3 {
		if err := readFloors("after the servers, again"); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			break
		}
	}
	rep.SendFloors = map[string]floorResult{}
	for _, sc := range rep.Scenarios {
		if sc.Scenario == "fanout" {
			rep.Floors[sc.Key] = medianFloor(readings[floorWrite][sc.N])
			rep.SendFloors[sc.Key] = medianFloor(readings[floorSend][sc.N])
		}
	}
	rep.LoadAvg = append(rep.LoadAvg, loadAvg())
	rep.Rows = buildPeerRows(rep.Scenarios, rep.Servers, results, rep.Floors)
	var table bytes.Buffer
	writePeersSummary(&table, c, rep)
	prog.done()
	stdout.Write(table.Bytes())
	stamp := rep.Started.Format("20060102-150405")
	jsonPath := filepath.Join(c.ResultsDir, stamp+"-peers.json")
	if err := writeJSON(jsonPath, rep); err != nil {
		return nil, err
	}
	mdPath := filepath.Join(c.ResultsDir, stamp+"-peers.md")
	if err := os.WriteFile(mdPath, table.Bytes(), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "\npeers results: %s, %s\n", jsonPath, mdPath)
	return rep, nil
}

// runPeerServer runs every scenario against one server, starting a new
// process for each scenario marked Fresh (and for the first), and stops it
// at the end. A failed scenario is recorded and the next one still runs; a
// server that fails to start loses only the scenarios meant for it.
func runPeerServer(c *peersConfig, base *options, s peerServer, scen []peerScenario) (map[string]*runResult, []string, error) {
	var srv *serverProc
	defer func() {
		if srv != nil {
			srv.stop()
		}
	}()
	res := map[string]*runResult{}
	var errs []string
	for _, sc := range scen {
		if !s.runs(sc) {
			continue
		}
		if srv == nil || sc.Fresh {
			if srv != nil {
				srv.stop()
				srv = nil
			}
			var err error
			if srv, err = s.start(); err != nil {
				if len(res) == 0 && len(errs) == 0 {
					return nil, nil, err
				}
				errs = append(errs, fmt.Sprintf("%s %s: %v", s.name, sc.Key, err))
				continue
			}
			base.progress.logf("peers: %s pid %d on %s", s.name, srv.pid(), srv.target.HostPort)
		}
		st := suiteStep{name: sc.Key, scenario: sc.Scenario, tune: func(o *options) {
			o.procMemOnly = true
			o.N, o.Channels, o.Rate, o.Duration = sc.N, sc.Channels, sc.Rate, c.Duration
			if sc.Kind != "" {
				o.Kind = sc.Kind
			}
			if sc.Sweep {
				o.Sweep, o.MaxSteps, o.P99Bound, o.StepFactor = true, c.MaxSteps, c.P99Bound, 2
			}
		}}
		o, err := suiteOptions(base, st, srv)
		if err != nil {
			return nil, nil, err
		}
		base.progress.logf("peers: %s: %s", s.name, sc.Label)
		r, err := scenarios[sc.Scenario](o)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s %s: %v", s.name, sc.Key, err))
			continue
		}
		o.progress.done()
		res[sc.Key] = r
		for _, e := range r.Errors {
			errs = append(errs, fmt.Sprintf("%s %s: %s", s.name, sc.Key, e))
		}
		time.Sleep(time.Second) // let the server reap closed sockets before the next part
	}
	return res, errs, nil
}

func writePeersSummary(w io.Writer, c *peersConfig, rep *peersReport) {
	fmt.Fprintf(w, "\n== peers: same client, same scenarios, one server at a time (scale %g, %v per step)\n", c.Scale, c.Duration)
	writePeerTable(w, rep.Servers, rep.Rows)
	fmt.Fprintln(w)
	printed := map[int]bool{}
	for _, sc := range rep.Scenarios {
		if f, ok := rep.Floors[sc.Key]; ok && !printed[f.Requested] {
			printed[f.Requested] = true
			fmt.Fprintf(w, "floor: one write(2) of a %d-byte frame to each of %s loopback sockets: %.3f µs CPU per write (%s; %d writes)\n",
				f.FrameBytes, floorLabel(f), f.USPerWrite, floorReadingsLabel(f), f.Writes)
			if sf, ok := rep.SendFloors[sc.Key]; ok && sf.Writes > 0 {
				fmt.Fprintf(w, "floor with send(2) instead (MSG_NOSIGNAL, the call Resound's broadcasts make), same sockets: %.3f µs CPU per call (%s)\n",
					sf.USPerWrite, floorReadingsLabel(sf))
			}
		}
	}
	for _, s := range rep.Servers {
		fmt.Fprintf(w, "%s: %s\n", s, rep.Versions[s])
	}
	fmt.Fprintf(w, "load average before / after: %s\n", strings.Join(rep.LoadAvg, " / "))
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "ERROR: %s\n", e)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func soketiVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@soketi", "soketi", "package.json"))
	if err != nil {
		return "soketi (version unknown)"
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &p) != nil {
		return "soketi (version unknown)"
	}
	return "soketi " + p.Version
}
