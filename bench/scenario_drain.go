package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// runDrain opens --n sockets, sends SIGTERM to the one --server-pid and
// measures how the server lets them go: when the first and last were closed
// by the server, the pace in between, and when the process exited.
func runDrain(o *options) (*runResult, error) {
	if len(o.ServerPIDs) != 1 {
		return nil, fmt.Errorf("drain needs exactly one --server-pid to signal")
	}
	pid := o.ServerPIDs[0]
	label := fmt.Sprintf("drain %d sockets after SIGTERM", o.N)
	r := newResult(o, label, map[string]any{"n": o.N, "procs": o.Procs})
	start := time.Now()
	f, err := openFleet(o, popSpec{Targets: targetStrings(o), App: o.App, N: o.N, TotalN: o.N,
		InFlight: o.InFlight, SourceIPs: o.SourceIPs})
	if err != nil {
		return nil, err
	}
	defer f.close()
	f.socketSummary(r)
	opened := f.open.Opened
	snap0, _, err := f.snapshot()
	if err != nil {
		return nil, err
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return nil, err
	}
	sent := time.Now()
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		return nil, fmt.Errorf("signalling %d: %w", pid, err)
	}
	// Poll the closes; the quantiles say how evenly they were spread.
	marks := []float64{0.01, 0.1, 0.5, 0.9, 1}
	at := make([]time.Duration, len(marks))
	next, closed := 0, 0
	var exited time.Duration
	for next < len(marks) || exited == 0 {
		if o.remaining() <= 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("timed out: %d of %d sockets closed by the server", closed, opened))
			break
		}
		time.Sleep(20 * time.Millisecond)
		if exited == 0 && syscall.Kill(pid, 0) != nil {
			exited = time.Since(sent)
		}
		if next < len(marks) {
			_, stats, err := f.snapshot()
			if err != nil {
				return nil, err
			}
			closed = mergeStats(stats).ClosedByServer
			for next < len(marks) && float64(closed) >= marks[next]*float64(opened) && closed > 0 {
				at[next] = time.Since(sent)
				next++
			}
			if exited != 0 && next < len(marks) {
				r.Errors = append(r.Errors, fmt.Sprintf("the server exited with %d of %d sockets not closed by it", opened-closed, opened))
				break
			}
		}
	}
	for i, m := range marks {
		r.Notes = append(r.Notes, fmt.Sprintf("%3.0f%% of %d sockets closed by the server %s after SIGTERM", m*100, opened, at[i].Round(time.Millisecond)))
	}
	if exited > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("process exited %s after SIGTERM", exited.Round(time.Millisecond)))
	}
	if opened > 1 && at[len(at)-1] > at[0] {
		r.Notes = append(r.Notes, fmt.Sprintf("pace between the first and last close: %.0f sockets/s", float64(opened)/(at[len(at)-1]-at[0]).Seconds()))
	}
	r.Params["drain_closes_ms"] = durationsMS(at)
	r.Params["exit_ms"] = exited.Milliseconds()
	f.finishClient(r, snap0)
	// Here the server closing every socket is the point, not a failure.
	kept := r.Errors[:0]
	for _, e := range r.Errors {
		if !strings.HasPrefix(e, "server closed ") {
			kept = append(kept, e)
		}
	}
	r.Errors = kept
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}

func durationsMS(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	return out
}
