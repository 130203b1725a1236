package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// suiteStep is one scenario of the standard suite with its options.
type suiteStep struct {
	name     string // file name part
	scenario string
	tune     func(o *options)
}

// standardSuite fits in well under 10 minutes on the 2-core machine:
// idle at 19k sockets over 2 worker processes (close to the 20k fd limit of
// the server process), handshake rate, two fan-out sweeps (one hot channel,
// many small channels), a whisper sweep and HTTP publish with and without
// keep-alive.
func standardSuite(smoke bool) []suiteStep {
	if smoke {
		return []suiteStep{
			{"idle", "idle", func(o *options) { o.Procs = 2 }},
			{"connect", "connect", nil},
			{"fanout-1ch", "fanout", func(o *options) { o.Sweep = true }},
			{"whisper", "whisper", nil},
			{"publish-keepalive", "publish", nil},
			{"publish-no-keepalive", "publish", func(o *options) { o.NoKeepAlive = true }},
			{"slow", "slow", nil},
		}
	}
	return []suiteStep{
		{"idle-19k", "idle", func(o *options) { o.N, o.Channels, o.Procs = 19000, 0, 2 }},
		{"connect-10k", "connect", func(o *options) { o.N = 10000 }},
		{"fanout-10k-1ch", "fanout", func(o *options) {
			// One hot channel: a fixed ladder, because a single 10k broadcast
			// may already exceed the p99 bound and a search would learn little.
			o.N, o.Channels, o.Sweep, o.Rates = 10000, 1, true, []float64{1, 2, 4, 8, 16, 32}
		}},
		{"fanout-10k-1000ch", "fanout", func(o *options) {
			o.N, o.Channels, o.Sweep, o.Rate, o.Conns, o.MaxSteps = 10000, 1000, true, 500, 8, 10
		}},
		{"whisper-10k-rooms10", "whisper", func(o *options) {
			o.N, o.RoomSize, o.Sweep, o.Rate, o.MaxSteps = 10000, 10, true, 5000, 8
		}},
		{"publish-keepalive", "publish", func(o *options) { o.Conns = 4 }},
		{"publish-no-keepalive", "publish", func(o *options) { o.Conns = 4; o.NoKeepAlive = true }},
		{"slow-200", "slow", nil},
	}
}

// runSuite starts a fresh resound with --expose-stats on a free port, runs
// the standard suite against it and writes every result to --results.
func runSuite(base *options, stdout io.Writer) error {
	bin, err := filepath.Abs(base.ServerBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("server binary %s: %v (build it: go build -o bin/resound ./cmd/resound)", bin, err)
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	if base.Smoke {
		stamp += "-smoke"
	}
	srv, err := startServer(bin)
	if err != nil {
		return err
	}
	defer srv.stop()
	base.progress.logf("suite: server %s pid %d on %s, results in %s", bin, srv.pid(), srv.target.HostPort, base.ResultsDir)
	var table bytes.Buffer
	out := io.MultiWriter(stdout, &table)
	var results []*runResult
	var failed []string
	for _, st := range standardSuite(base.Smoke) {
		o, err := suiteOptions(base, st, srv)
		if err != nil {
			return err
		}
		o.Out = filepath.Join(base.ResultsDir, stamp+"-"+st.name+".json")
		o.SVG = filepath.Join(base.ResultsDir, stamp+"-"+st.name+".svg")
		base.progress.logf("suite: %s", st.name)
		r, err := scenarios[st.scenario](o)
		if err != nil {
			failed = append(failed, st.name+": "+err.Error())
			fmt.Fprintf(out, "\n== %s FAILED: %v\n", st.name, err)
			continue
		}
		if err := emit(o, r, out); err != nil {
			return err
		}
		results = append(results, r)
		for _, e := range r.Errors {
			failed = append(failed, st.name+": "+e)
		}
		time.Sleep(time.Second) // let the server reap closed sockets before the next part
	}
	summary := filepath.Join(base.ResultsDir, stamp+"-suite.json")
	if err := writeJSON(summary, map[string]any{"server": bin, "results": results, "failures": failed}); err != nil {
		return err
	}
	txt := filepath.Join(base.ResultsDir, stamp+"-suite.txt")
	if err := os.WriteFile(txt, table.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nsuite results: %s, %s\n", summary, txt)
	if len(failed) > 0 {
		return fmt.Errorf("%d problem(s):\n  %s", len(failed), joinLines(failed))
	}
	return nil
}

func suiteOptions(base *options, st suiteStep, srv *serverProc) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, st.scenario)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(nil); err != nil {
		return nil, err
	}
	o.Scenario = st.scenario
	o.Targets = srv.target.HostPort
	o.ServerPIDs = []int{srv.pid()}
	o.Smoke, o.Quiet = base.Smoke, base.Quiet
	o.progress = base.progress
	o.App = app{ID: "bench", Key: "bench-key", Secret: "bench-secret"}
	if st.tune != nil {
		st.tune(o)
	}
	if err := o.finish(); err != nil {
		return nil, err
	}
	o.deadline = minTime(o.deadline, base.deadline)
	return o, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for i, l := range s {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(l)
	}
	return b.String()
}
