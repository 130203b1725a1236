package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// serverMem is the server-side memory picture. Resound's own GET /stats
// gives Go-level detail; any other server is read from /proc/<pid>/status.
type serverMem struct {
	Source      string `json:"source"` // "stats" or "proc"
	RSS         int64  `json:"rss_bytes"`
	HeapInuse   int64  `json:"heap_inuse_bytes"`
	HeapObjects int64  `json:"heap_objects"`
	StackInuse  int64  `json:"stack_inuse_bytes"`
	Goroutines  int64  `json:"goroutines"`
	Connections int64  `json:"connections"`
}

var statsHTTP = &http.Client{Timeout: 30 * time.Second}

// fetchStats sums GET /stats over all targets (one per cluster node).
// gc=true asks the server to GC and return memory to the OS first, so
// deltas measure live memory rather than garbage awaiting collection.
func fetchStats(ts []target, gc bool) (serverMem, error) {
	var sum serverMem
	sum.Source = "stats"
	seen := map[string]bool{}
	for _, t := range ts {
		u := t.baseURL() + "/stats"
		if seen[u] {
			continue
		}
		seen[u] = true
		if gc {
			u += "?gc=1"
		}
		resp, err := statsHTTP.Get(u)
		if err != nil {
			return sum, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return sum, fmt.Errorf("GET %s: HTTP %d (start the server with --expose-stats)", u, resp.StatusCode)
		}
		var m serverMem
		if err := json.Unmarshal(body, &m); err != nil {
			return sum, fmt.Errorf("GET %s: %v", u, err)
		}
		sum.RSS += m.RSS
		sum.HeapInuse += m.HeapInuse
		sum.HeapObjects += m.HeapObjects
		sum.StackInuse += m.StackInuse
		sum.Goroutines += m.Goroutines
		sum.Connections += m.Connections
	}
	return sum, nil
}

// readServerRSSNoGC is the servers' RSS as ps sees it, garbage included:
// from /proc with --server-pid, else from GET /stats without gc.
func readServerRSSNoGC(o *options) (int64, bool) {
	if rss, ok := pidsRSS(o.ServerPIDs); ok {
		return rss, true
	}
	if o.procMemOnly {
		return 0, false
	}
	m, err := fetchStats(o.targets, false)
	return m.RSS, err == nil
}

// readServerMem prefers /stats and falls back to VmRSS of --server-pid.
func readServerMem(o *options) (serverMem, error) {
	var m serverMem
	err := fmt.Errorf("--server-pid required without GET /stats")
	if !o.procMemOnly {
		m, err = fetchStats(o.targets, true)
	}
	if err == nil {
		if rss, ok := pidsRSS(o.ServerPIDs); ok {
			m.RSS = rss // the kernel's view is authoritative when we have it
		}
		return m, nil
	}
	if rss, ok := pidsRSS(o.ServerPIDs); ok {
		return serverMem{Source: "proc", RSS: rss}, nil
	}
	return serverMem{}, fmt.Errorf("no server memory source: %v; pass --server-pid for servers without /stats", err)
}

// waitUp polls GET /up until it answers 200.
func waitUp(t target, budget time.Duration) error {
	deadline := time.Now().Add(budget)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(t.baseURL() + "/up")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s not up after %v: %v", t.HostPort, budget, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
