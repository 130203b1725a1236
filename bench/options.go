package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// options are the flags shared by every scenario. Every count and duration
// has a hard upper bound: a typo must not become an unbounded load test.
type options struct {
	Scenario         string
	Targets          string
	App              app
	N                int
	Channels         int
	RoomSize         int
	Kind             string
	ClientEventLimit float64
	Rate             float64
	Duration         time.Duration
	Timeout          time.Duration
	Procs            int
	InFlight         int
	SourceIPs        int
	Conns            int
	Bound            int
	NoKeepAlive      bool
	ProbeUp          time.Duration
	PadBytes         int
	PublishChannel   string
	Sweep            bool
	P99Bound         time.Duration
	MaxSteps         int
	Rates            []float64
	StepFactor       float64
	Hold             time.Duration
	Flood            int
	Drain            time.Duration
	OpenBudget       time.Duration
	ServerPIDs       []int
	Out              string
	SVG              string
	Smoke            bool
	KernelTS         bool
	IdleReaders      bool
	Warmup           time.Duration
	Deflate          bool
	Quiet            bool
	ServerBin        string
	ResultsDir       string

	targets  []target
	deadline time.Time
	progress *progress
	pidsFlag *string
	// procMemOnly reads server RSS from /proc without GET /stats?gc=1, as
	// an operator's ps sees it: peers compares servers like with like.
	procMemOnly bool
}

const (
	maxSockets  = 200000
	maxDuration = 10 * time.Minute
	maxTimeout  = 30 * time.Minute
	maxRate     = 10_000_000
	maxSteps    = 40
)

func newFlagSet(o *options, scenario string) *flag.FlagSet {
	fs := flag.NewFlagSet(scenario, flag.ContinueOnError)
	fs.StringVar(&o.Targets, "targets", "127.0.0.1:6001", "comma-separated loopback host:port list of server nodes")
	fs.StringVar(&o.App.ID, "app-id", "bench", "app id (HTTP API path)")
	fs.StringVar(&o.App.Key, "key", "bench-key", "app key (WebSocket path, auth)")
	fs.StringVar(&o.App.Secret, "secret", "bench-secret", "app secret (signatures)")
	fs.IntVar(&o.N, "n", 0, "sockets (default depends on scenario)")
	fs.IntVar(&o.Channels, "channels", -1, "channels the sockets are spread over (idle: 0 = no subscribe)")
	fs.IntVar(&o.RoomSize, "room-size", 10, "whisper: members per presence room")
	fs.StringVar(&o.Kind, "kind", "public", "idle: channel kind the sockets subscribe to: public, private or presence (presence: --channels rooms of one user per socket)")
	fs.Float64Var(&o.ClientEventLimit, "client-event-limit", 10, "whisper: server's client events/s per socket (Pusher: 10); offered rate stays under 90% of it; 0 = no cap")
	fs.Float64Var(&o.Rate, "rate", 0, "offered rate (publishes/s or whispers/s); sweep start rate; publish: 0 = as fast as possible")
	fs.DurationVar(&o.Duration, "duration", 0, "measurement time per step (default 5s, sweep 3s; max 10m)")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "hard cap on the whole run (max 30m)")
	fs.IntVar(&o.Procs, "procs", 0, "client processes (0 = as many as RLIMIT_NOFILE requires)")
	fs.IntVar(&o.InFlight, "inflight", 512, "max handshakes in flight (all processes together)")
	fs.IntVar(&o.SourceIPs, "source-ips", 8, "bind sockets to 127.0.0.2..(2+n-1) (IPv4 loopback targets)")
	fs.IntVar(&o.Conns, "conns", 4, "HTTP publisher connections")
	fs.IntVar(&o.Bound, "bound", 1<<20, "slow: the server's max_outbound_bytes, to compare peak memory with")
	fs.BoolVar(&o.NoKeepAlive, "no-keepalive", false, "publish: new connection per request")
	fs.StringVar(&o.PublishChannel, "publish-channel", "bench-publish", "publish: channel the events go to (a cache- channel also stores each event)")
	fs.IntVar(&o.PadBytes, "pad-bytes", 0, "publish, fanout: bytes of padding in each event's data (slower to verify and parse; max 90000)")
	fs.BoolVar(&o.Deflate, "deflate", false, "fanout, idle: sockets offer permessage-deflate (fanout: and inflate compressed events)")
	fs.DurationVar(&o.ProbeUp, "probe-up", 0, "publish: time GET /up on a fresh connection at this interval during the run (0 = off)")
	fs.BoolVar(&o.Sweep, "sweep", false, "fanout/whisper: raise the rate until p99 exceeds --p99")
	fs.DurationVar(&o.P99Bound, "p99", 50*time.Millisecond, "sweep: p99 latency bound")
	fs.Func("rates", "sweep: explicit comma-separated rate ladder instead of the search (e.g. 1,2,4,8)", func(v string) error {
		o.Rates = nil
		for _, f := range strings.Split(v, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 || r > maxRate {
				return fmt.Errorf("bad rate %q", f)
			}
			o.Rates = append(o.Rates, r)
		}
		if len(o.Rates) > maxSteps {
			return fmt.Errorf("at most %d rates", maxSteps)
		}
		o.Sweep = true
		return nil
	})
	fs.IntVar(&o.MaxSteps, "max-steps", 12, "sweep: maximum steps")
	fs.Float64Var(&o.StepFactor, "step-factor", 2, "sweep: rate multiplier while under the bound")
	fs.DurationVar(&o.Hold, "hold", time.Second, "idle: how long to hold the sockets open after measuring")
	fs.IntVar(&o.Flood, "flood", 1000, "pressure: silent TCP connections to hold (each redialled when closed)")
	fs.DurationVar(&o.Drain, "drain", 3*time.Second, "max wait after a step for in-flight messages")
	fs.DurationVar(&o.OpenBudget, "open-budget", 2*time.Minute, "max time to open all sockets")
	pids := fs.String("server-pid", "", "comma-separated server pid(s), for RSS/CPU of servers without /stats")
	fs.StringVar(&o.Out, "out", "", "write the JSON result here")
	fs.StringVar(&o.SVG, "svg", "", "sweep: write the latency chart here (default: next to --out)")
	fs.BoolVar(&o.KernelTS, "kernel-ts", true, "measure latency to the kernel's receive timestamp (SO_TIMESTAMPNS) and report client read lag separately")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "fanout: publish at the first step's rate this long (at most one step), unmeasured, before the first step; stretched until every subscriber has been sent 20 messages when it gets one at least every 200 ms (see README); 0 = none")
	fs.BoolVar(&o.IdleReaders, "idle-readers", true, "fanout (not --sweep), pressure: subscribers read at SCHED_IDLE priority in their own processes, only on CPU the server leaves (needs --kernel-ts; see README)")
	fs.BoolVar(&o.Smoke, "smoke", false, "tiny, seconds-long run (for tests)")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress output")
	fs.StringVar(&o.ServerBin, "server-bin", "bin/resound", "suite: resound binary to start")
	fs.StringVar(&o.ResultsDir, "results", "bench/results", "suite: directory for results")
	o.pidsFlag = pids
	return fs
}

// parseOptions parses args for scenario and applies defaults and caps.
func parseOptions(scenario string, args []string, stderr io.Writer) (*options, error) {
	o := &options{Scenario: scenario}
	fs := newFlagSet(o, scenario)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if scenario == "suite" && !set["timeout"] {
		o.Timeout = 10 * time.Minute // the suite's parts each have their own caps
	}
	if err := o.parsePIDs(*o.pidsFlag); err != nil {
		return nil, err
	}
	return o, o.finish()
}

func (o *options) parsePIDs(s string) error {
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return fmt.Errorf("bad --server-pid %q", f)
		}
		o.ServerPIDs = append(o.ServerPIDs, pid)
	}
	return nil
}

// finish applies scenario defaults, smoke sizes and hard caps.
func (o *options) finish() error {
	ts, err := parseTargets(o.Targets)
	if err != nil {
		return err
	}
	o.targets = ts
	def := scenarioDefaults[o.Scenario]
	if o.Smoke {
		def = smokeDefaults[o.Scenario]
		o.Timeout = min(o.Timeout, time.Minute)
		o.Drain = min(o.Drain, 2*time.Second)
		o.Hold = min(o.Hold, 200*time.Millisecond)
		o.MaxSteps = min(o.MaxSteps, 2)
	}
	if o.N == 0 {
		o.N = def.n
	}
	if o.Channels < 0 {
		o.Channels = def.channels
	}
	if o.Rate == 0 {
		o.Rate = def.rate
	}
	if o.Duration == 0 {
		o.Duration = def.duration
		if o.Sweep && !o.Smoke {
			o.Duration = 3 * time.Second
		}
	}
	switch {
	case o.N < 0 || o.N > maxSockets:
		return fmt.Errorf("--n must be 0..%d", maxSockets)
	case o.Duration <= 0 || o.Duration > maxDuration:
		return fmt.Errorf("--duration must be in (0, %v]", maxDuration)
	case o.Timeout <= 0 || o.Timeout > maxTimeout:
		return fmt.Errorf("--timeout must be in (0, %v]", maxTimeout)
	case o.Rate < 0 || o.Rate > maxRate:
		return fmt.Errorf("--rate must be 0..%d", maxRate)
	case o.MaxSteps < 1 || o.MaxSteps > maxSteps:
		return fmt.Errorf("--max-steps must be 1..%d", maxSteps)
	case o.StepFactor <= 1:
		return fmt.Errorf("--step-factor must be > 1")
	case o.Conns < 1 || o.Conns > 8000:
		return fmt.Errorf("--conns must be 1..8000")
	case o.PadBytes < 0 || o.PadBytes > 90000:
		return fmt.Errorf("--pad-bytes must be 0..90000")
	case o.ProbeUp < 0 || (o.ProbeUp > 0 && o.ProbeUp < time.Millisecond):
		return fmt.Errorf("--probe-up must be 0 (off) or at least 1ms")
	case o.InFlight < 1 || o.InFlight > 4096:
		return fmt.Errorf("--inflight must be 1..4096")
	case o.Kind != "public" && o.Kind != "private" && o.Kind != "presence":
		return fmt.Errorf("--kind must be public, private or presence")
	case o.RoomSize < 2:
		return fmt.Errorf("--room-size must be at least 2")
	case o.Flood < 0 || o.Flood > 19000:
		return fmt.Errorf("--flood must be 0..19000 (one process's fds)")
	case o.Hold > maxDuration || o.Drain > time.Minute:
		return fmt.Errorf("--hold is capped at %v and --drain at 1m", maxDuration)
	}
	if o.Channels > o.N && o.N > 0 {
		o.Channels = o.N
	}
	if o.SVG == "" && o.Out != "" && strings.HasSuffix(o.Out, ".json") {
		o.SVG = strings.TrimSuffix(o.Out, ".json") + ".svg"
	}
	o.deadline = time.Now().Add(o.Timeout)
	if o.progress == nil {
		o.progress = newProgress(o.Quiet)
	}
	return nil
}

type scenarioDefault struct {
	n, channels int
	rate        float64
	duration    time.Duration
}

var scenarioDefaults = map[string]scenarioDefault{
	"idle":     {n: 1000, channels: 0, duration: 5 * time.Second},
	"connect":  {n: 5000, duration: 5 * time.Second},
	"fanout":   {n: 1000, channels: 1, rate: 10, duration: 5 * time.Second},
	"whisper":  {n: 1000, rate: 1000, duration: 5 * time.Second},
	"publish":  {duration: 5 * time.Second},
	"slow":     {n: 200, rate: 200, duration: 5 * time.Second},
	"suite":    {duration: 3 * time.Second},
	"pressure": {n: 1000, channels: 1, rate: 20, duration: 5 * time.Second},
	"drain":    {n: 1000, duration: time.Second},
}

var smokeDefaults = map[string]scenarioDefault{
	"idle":     {n: 20, channels: 2, duration: time.Second},
	"connect":  {n: 20, duration: time.Second},
	"fanout":   {n: 20, channels: 2, rate: 20, duration: 2 * time.Second},
	"whisper":  {n: 20, rate: 40, duration: 2 * time.Second},
	"publish":  {rate: 200, duration: 2 * time.Second},
	"slow":     {n: 10, rate: 200, duration: 2 * time.Second},
	"suite":    {duration: time.Second},
	"pressure": {n: 20, channels: 1, rate: 20, duration: time.Second},
	"drain":    {n: 20, duration: time.Second},
}

// remaining is how much of the run's hard time cap is left.
func (o *options) remaining() time.Duration { return time.Until(o.deadline) }
