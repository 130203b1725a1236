package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printResult writes the human-readable table for one run.
func printResult(w io.Writer, r *runResult) {
	fmt.Fprintf(w, "\n== %s (%.1fs) targets=%s\n", r.Label, r.WallSeconds, strings.Join(r.Targets, ","))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if s := r.Sockets; s != nil {
		fmt.Fprintf(w, "sockets: %d opened / %d requested, %d failed, %d subscribed (%d refused), %d client process(es)\n",
			s.Opened, s.Requested, s.Failed, s.Subscribed, s.SubFailed, s.Procs)
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(tw, "metric\tper socket\tbefore\tafter\t\n")
		if i.RSSNoGCPerConn != 0 {
			fmt.Fprintf(tw, "server RSS, no forced GC (as ps sees it)\t%s\t\t\t\n", bytesStr(i.RSSNoGCPerConn))
		}
		fmt.Fprintf(tw, "server RSS after GC\t%s\t%s\t%s\t\n", bytesStr(i.RSSPerConn), bytesStr(float64(i.Before.RSS)), bytesStr(float64(i.After.RSS)))
		if i.After.Source == "stats" {
			fmt.Fprintf(tw, "Go heap in use\t%s\t%s\t%s\t\n", bytesStr(i.HeapPerConn), bytesStr(float64(i.Before.HeapInuse)), bytesStr(float64(i.After.HeapInuse)))
			fmt.Fprintf(tw, "heap objects\t%.2f\t%d\t%d\t\n", i.ObjectsPerCon, i.Before.HeapObjects, i.After.HeapObjects)
			fmt.Fprintf(tw, "stack in use\t%s\t%s\t%s\t\n", bytesStr(i.StackPerConn), bytesStr(float64(i.Before.StackInuse)), bytesStr(float64(i.After.StackInuse)))
			fmt.Fprintf(tw, "goroutines\t%.3f\t%d\t%d\t\n", float64(i.GoroutinesAdd)/float64(max(1, i.N)), i.Before.Goroutines, i.After.Goroutines)
			fmt.Fprintf(tw, "server connections\t\t%d\t%d\t\n", i.Before.Connections, i.After.Connections)
		}
		fmt.Fprintf(tw, "client RSS (growth)\t%s\t\t%s\t\n", bytesStr(r.Client.RSSPerSock), bytesStr(float64(r.Client.RSSBytes)))
		tw.Flush()
	}
	if r.Slow != nil {
		printSlow(w, r.Slow)
	}
	if c := r.Connect; c != nil {
		fmt.Fprintf(tw, "opened\tfailed\tseconds\thandshakes/s\tin flight\tp50 ms\tp99 ms\tmax ms\t\n")
		fmt.Fprintf(tw, "%d\t%d\t%.2f\t%.0f\t%d\t%.2f\t%.2f\t%.2f\t\n", c.Opened, c.Failed, c.Seconds, c.PerSecond, c.InFlight,
			c.Handshake.P50Ms, c.Handshake.P99Ms, c.Handshake.MaxMs)
		tw.Flush()
	}
	if len(r.Steps) > 0 {
		fmt.Fprintf(tw, "offered/s\tachieved/s\tsent\terr\tdelivered/s\tlost\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\tclient lag p99\tclient cpu\tserver cpu\tok\t\n")
		for _, s := range r.Steps {
			lat := s.Latency
			if s.Request != nil && s.Expected == 0 {
				lat = *s.Request // publish: the request round trip is the latency
			}
			ok := "yes"
			if !s.WithinBound {
				ok = "no"
			}
			offered := fmt.Sprintf("%.0f", s.Offered)
			if s.Offered == 0 {
				offered = "max"
			}
			lag := "-"
			if s.ClientLag != nil {
				lag = fmt.Sprintf("%.2f", s.ClientLag.P99Ms)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%.0f\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t\n",
				offered, s.Achieved, s.Sent, s.SendErrors, s.DeliveredRate, s.Lost,
				lat.P50Ms, lat.P90Ms, lat.P99Ms, lat.P999Ms, lat.MaxMs, lag,
				pct(s.ClientCPUPct), pct(s.ServerCPUPct), ok)
		}
		tw.Flush()
		printWire(w, r.Steps)
	}
	if sw := r.Sweep; sw != nil {
		fmt.Fprintf(w, "sweep: best rate holding p99 <= %.0f ms: %.0f/s (%.0f deliveries/s)", sw.P99BoundMs, sw.BestRate, sw.BestDelivery)
		if sw.FirstBadRate > 0 {
			fmt.Fprintf(w, "; first rate over the bound: %.0f/s", sw.FirstBadRate)
		}
		fmt.Fprintln(w)
		if sw.Chart != "" {
			fmt.Fprintf(w, "chart: %s\n", sw.Chart)
		}
	}
	fmt.Fprintf(w, "client: %d process(es), cpu %.2fs (%.0f%% of one core), rss %s", r.Client.Procs, r.Client.CPU.total(), r.Client.CPUPercent, bytesStr(float64(r.Client.RSSBytes)))
	if r.Client.ServerCPUPc > 0 {
		fmt.Fprintf(w, "; server cpu %.2fs (%.0f%% of one core)", r.Client.ServerCPU.total(), r.Client.ServerCPUPc)
	}
	fmt.Fprintln(w)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "ERROR: %s\n", e)
	}
}

func pct(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", v)
}

func bytesStr(v float64) string {
	switch {
	case v >= 1<<30 || v <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20 || v <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 10<<10 || v <= -(10<<10):
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

// printWire gives fan-out steps' bytes on the wire and server CPU per
// delivery, the figures compression changes.
func printWire(w io.Writer, steps []stepResult) {
	for _, s := range steps {
		if s.WireBytes == 0 || s.Delivered == 0 {
			continue
		}
		fmt.Fprintf(w, "step %d: %s read by subscribers, %.0f B per delivery, %d of %d deliveries compressed",
			s.Step, bytesStr(float64(s.WireBytes)), float64(s.WireBytes)/float64(s.Delivered), s.Compressed, s.Delivered)
		if s.Shared > 0 {
			fmt.Fprintf(w, ", %d read behind a later message (timed late)", s.Shared)
		}
		if s.Untimed > 0 {
			fmt.Fprintf(w, ", %d timed at the read (no kernel timestamp)", s.Untimed)
		}
		if s.ServerCPUSec > 0 {
			fmt.Fprintf(w, ", server CPU %.2f s (%.2f µs per delivery)", s.ServerCPUSec, s.ServerCPUSec*1e6/float64(s.Delivered))
		}
		fmt.Fprintln(w)
	}
}
