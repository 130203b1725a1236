// Command bench is Resound's load generator: it opens tens of thousands of
// Pusher-protocol WebSocket clients from one epoll loop per process and
// measures memory per idle socket, handshake rate, fan-out and whisper
// latency, and HTTP publish throughput against any Pusher-protocol server
// on loopback.
//
//	go run ./bench <idle|connect|fanout|whisper|publish|suite> [flags]
package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

var scenarios = map[string]func(*options) (*runResult, error){
	"idle":    runIdle,
	"connect": runConnect,
	"fanout":  runFanout,
	"whisper": runWhisper,
	"publish": runPublish,
	"slow":    runSlow,
	// pressure and drain exercise the limits (scenario_pressure.go, scenario_drain.go).
	"pressure": runPressure,
	"drain":    runDrain,
}

func main() {
	if isWorker() {
		workerMain()
	}
	if isHealthProbe() {
		healthProbeMain()
	}
	if isWriteLoop() {
		writeLoopMain()
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: bench <scenario> [flags]   (bench <scenario> -h for flags)

scenarios:
  idle     open --n sockets (optionally over --channels), report server memory per socket
  connect  handshake rate and failures opening --n sockets, --inflight at a time
  fanout   --n subscribers over --channels; HTTP publishes at --rate; latency and loss (--sweep)
  whisper  presence rooms of --room-size; client events at --rate; latency and loss (--sweep)
  publish  signed HTTP publishes/s over --conns connections (--no-keepalive to compare)
  slow     --n sockets that never read while events arrive: peak server heap against n x --bound, kernel TCP memory, a fast subscriber's latency
  pressure fanout latency and server CPU without, then with, --flood silent connections held
  drain    --n sockets, SIGTERM to --server-pid: when they are closed and the process exits
  suite    start bin/resound and run the standard suite into bench/results/
  peers    the same scenarios against Resound and soketi, the fan-outs against the write-loop server, with the write(2) floor

every scenario accepts --smoke for a tiny, seconds-long run; targets must be loopback.`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	name := args[0]
	if name == "peers" {
		return peersMain(args[1:], stdout, stderr)
	}
	if name == "suite" {
		o, err := parseOptions(name, args[1:], stderr)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
		watchdog := time.AfterFunc(o.Timeout+time.Minute, func() {
			fmt.Fprintln(stderr, "bench: hard timeout reached, exiting")
			os.Exit(4)
		})
		defer watchdog.Stop()
		if err := runSuite(o, stdout); err != nil {
			fmt.Fprintln(stderr, "bench suite:", err)
			return 1
		}
		return 0
	}
	fn, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(stderr, "bench: unknown scenario %q\n", name)
		usage(stderr)
		return 2
	}
	o, err := parseOptions(name, args[1:], stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	// Hard stop even if something hangs: the run is bounded no matter what.
	watchdog := time.AfterFunc(o.Timeout+time.Minute, func() {
		fmt.Fprintln(stderr, "bench: hard timeout reached, exiting")
		os.Exit(4)
	})
	defer watchdog.Stop()
	r, err := fn(o)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if err := emit(o, r, stdout); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if len(r.Errors) > 0 {
		return 3
	}
	return 0
}

// emit writes the SVG (sweeps), the JSON file and the table.
func emit(o *options, r *runResult, stdout io.Writer) error {
	o.progress.done()
	if r.Sweep != nil && o.SVG != "" {
		if err := writeSweepSVG(o.SVG, r); err != nil {
			return err
		}
		r.Sweep.Chart = o.SVG
	}
	if o.Out != "" {
		if err := writeJSON(o.Out, r); err != nil {
			return err
		}
	}
	printResult(stdout, r)
	if o.Out != "" {
		fmt.Fprintf(stdout, "result: %s\n", o.Out)
	}
	return nil
}
