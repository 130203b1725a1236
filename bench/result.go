package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// runResult is one scenario run: what the JSON file holds and what the
// table shows. Errors lists everything that makes the run untrustworthy
// (failed sockets, lost messages, server errors); smoke tests fail on it.
type runResult struct {
	Scenario    string         `json:"scenario"`
	Label       string         `json:"label"`
	Started     time.Time      `json:"started"`
	WallSeconds float64        `json:"wall_seconds"`
	Targets     []string       `json:"targets"`
	Params      map[string]any `json:"params"`
	Sockets     *socketSummary `json:"sockets,omitempty"`
	Idle        *idleResult    `json:"idle,omitempty"`
	Connect     *connectResult `json:"connect,omitempty"`
	Steps       []stepResult   `json:"steps,omitempty"`
	Sweep       *sweepSummary  `json:"sweep,omitempty"`
	Slow        *slowResult    `json:"slow,omitempty"`
	Client      clientSummary  `json:"client"`
	// Health is GET /up's latency while the scenario ran (publish --probe-up).
	Health *latencySummary `json:"health_probe,omitempty"`
	Errors []string        `json:"errors,omitempty"`
	Notes  []string        `json:"notes,omitempty"`
}

type socketSummary struct {
	Requested  int    `json:"requested"`
	Opened     int    `json:"opened"`
	Failed     int    `json:"failed"`
	Subscribed int    `json:"subscribed"`
	SubFailed  int    `json:"sub_failed"`
	Procs      int    `json:"procs"`
	LastError  string `json:"last_error,omitempty"`
}

type clientSummary struct {
	Procs       int      `json:"procs"`
	CPU         cpuTimes `json:"cpu"`
	CPUPercent  float64  `json:"cpu_percent_of_one_core"`
	RSSBytes    int64    `json:"rss_bytes"`
	RSSPerSock  float64  `json:"rss_growth_per_socket_bytes,omitempty"`
	ServerCPU   cpuTimes `json:"server_cpu,omitempty"`
	ServerCPUPc float64  `json:"server_cpu_percent,omitempty"`
}

type idleResult struct {
	N        int    `json:"n"`
	Channels int    `json:"channels"`
	Kind     string `json:"kind,omitempty"`
	// RSSNoGCPerConn is RSS growth per socket with no forced GC, as ps
	// sees it; RSSPerConn is after a forced GC and release to the OS.
	RSSNoGCPerConn float64   `json:"rss_nogc_per_conn_bytes"`
	Before         serverMem `json:"before"`
	After          serverMem `json:"after"`
	RSSPerConn     float64   `json:"rss_per_conn_bytes"`
	HeapPerConn    float64   `json:"heap_inuse_per_conn_bytes"`
	ObjectsPerCon  float64   `json:"heap_objects_per_conn"`
	StackPerConn   float64   `json:"stack_inuse_per_conn_bytes"`
	GoroutinesAdd  int64     `json:"goroutines_added"`
	ServerConns    int64     `json:"server_connections"`
}

type connectResult struct {
	N             int            `json:"n"`
	Opened        int            `json:"opened"`
	Failed        int            `json:"failed"`
	Seconds       float64        `json:"seconds"`
	PerSecond     float64        `json:"handshakes_per_second"`
	InFlight      int            `json:"in_flight"`
	Handshake     latencySummary `json:"handshake_latency"`
	ConnectErrors int            `json:"connect_errors"`
	Timeouts      int            `json:"timeouts"`
	HTTPErrors    int            `json:"handshake_errors"`
}

// stepResult is one rate step of fanout, whisper or publish.
type stepResult struct {
	Step           int64           `json:"step"`
	Offered        float64         `json:"offered_rate"`
	Achieved       float64         `json:"achieved_rate"`
	Sent           uint64          `json:"sent"`
	SendErrors     uint64          `json:"send_errors"`
	Expected       uint64          `json:"expected"`
	Delivered      uint64          `json:"delivered"`
	Lost           uint64          `json:"lost"`
	Extra          uint64          `json:"extra"`
	Stale          uint64          `json:"stale"`
	Echoes         uint64          `json:"echoes"`
	DeliveredRate  float64         `json:"delivered_per_second"`
	Latency        latencySummary  `json:"latency"`
	Request        *latencySummary `json:"request_latency,omitempty"`
	ClientLag      *latencySummary `json:"client_lag,omitempty"` // kernel receive -> client read
	Seconds        float64         `json:"seconds"`
	ClientCPUPct   float64         `json:"client_cpu_percent"`
	ServerCPUPct   float64         `json:"server_cpu_percent,omitempty"`
	ServerCPUSec   float64         `json:"server_cpu_seconds,omitempty"` // same window as ServerCPUPct
	ServerErrors   int             `json:"server_errors"`
	ClosedByServer int             `json:"closed_by_server"`
	Dials          int             `json:"dials,omitempty"`
	// WireBytes: everything the subscribers read in the step (frames and
	// any control traffic); Compressed: deliveries that came compressed.
	WireBytes  uint64 `json:"wire_bytes,omitempty"`
	Compressed uint64 `json:"compressed,omitempty"`
	// Untimed: deliveries read without a kernel receive timestamp, timed
	// at the read instead (client lag included).
	Untimed uint64 `json:"untimed,omitempty"`
	// Shared: deliveries read together with a later one from the same
	// socket, timed at the later one's receipt (TCP keeps one timestamp).
	Shared      uint64 `json:"shared_read,omitempty"`
	WithinBound bool   `json:"within_bound"`
	LastError   string `json:"last_error,omitempty"`
}

type sweepSummary struct {
	P99BoundMs   float64 `json:"p99_bound_ms"`
	BestRate     float64 `json:"best_rate"`
	BestDelivery float64 `json:"best_delivered_per_second"`
	FirstBadRate float64 `json:"first_bad_rate,omitempty"`
	Chart        string  `json:"chart,omitempty"`
}

func newResult(o *options, label string, params map[string]any) *runResult {
	r := &runResult{Scenario: o.Scenario, Label: label, Started: time.Now().UTC(), Params: params}
	for _, t := range o.targets {
		r.Targets = append(r.Targets, t.HostPort)
	}
	return r
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
