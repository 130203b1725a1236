// Command hookrecv is a webhook receiver for benchmarks: it checks every
// POST's key and signature as Pusher's SDKs do, answers 200, counts the
// events by name and, for client events the bench sent (their data carries
// "bench_t", the send time in Unix ns), how long after the whisper the
// webhook arrived. GET /count reports the counts since the last GET /reset;
// after GET /fail it answers 503 to every POST (counting nothing) until
// GET /ok, so a backlog can build up and its drain be timed.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

type tally struct {
	mu         sync.Mutex
	key        string
	secret     []byte
	posts, bad int
	failing    bool
	byName     map[string]int
	first      time.Time
	last       time.Time
	latency    []time.Duration // bounded: enough for percentiles of a run
}

const maxSamples = 1 << 20

func (t *tally) reset() {
	t.posts, t.bad, t.byName = 0, 0, map[string]int{}
	t.first, t.last, t.latency = time.Time{}, time.Time{}, t.latency[:0]
}

func (t *tally) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/count":
		t.report(w)
		return
	case "/reset", "/fail", "/ok":
		t.mu.Lock()
		switch r.URL.Path {
		case "/reset":
			t.reset()
		default:
			t.failing = r.URL.Path == "/fail"
		}
		t.mu.Unlock()
		return
	}
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	m := hmac.New(sha256.New, t.secret)
	m.Write(body)
	var b struct {
		Events []struct {
			Name string `json:"name"`
			Data string `json:"data"`
		} `json:"events"`
	}
	ok := r.Method == "POST" && r.Header.Get("X-Pusher-Key") == t.key &&
		hmac.Equal([]byte(r.Header.Get("X-Pusher-Signature")), []byte(hex.EncodeToString(m.Sum(nil)))) &&
		json.Unmarshal(body, &b) == nil
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok {
		t.bad++
		http.Error(w, "bad key or signature", http.StatusForbidden)
		return
	}
	if t.failing {
		http.Error(w, "failing on purpose", http.StatusServiceUnavailable)
		return
	}
	t.posts++
	if t.first.IsZero() {
		t.first = now
	}
	t.last = now
	for _, e := range b.Events {
		t.byName[e.Name]++
		if e.Name != "client_event" || len(t.latency) >= maxSamples {
			continue
		}
		var d struct {
			BenchT int64 `json:"bench_t"`
		}
		if json.Unmarshal([]byte(e.Data), &d) == nil && d.BenchT > 0 {
			t.latency = append(t.latency, now.Sub(time.Unix(0, d.BenchT)))
		}
	}
}

func (t *tally) report(w http.ResponseWriter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	events := 0
	for _, n := range t.byName {
		events += n
	}
	out := map[string]any{"posts": t.posts, "bad": t.bad, "events": events, "by_name": t.byName}
	if span := t.last.Sub(t.first); span > 0 {
		out["span_s"] = span.Seconds()
		out["events_per_s"] = float64(events) / span.Seconds()
	}
	if n := len(t.latency); n > 0 {
		s := slices.Clone(t.latency)
		slices.Sort(s)
		ms := func(q float64) float64 { return float64(s[min(n-1, int(q*float64(n)))]) / 1e6 }
		out["client_event_ms"] = map[string]float64{"p50": ms(0.50), "p99": ms(0.99), "max": ms(1)}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6499", "listen address (loopback)")
	key := flag.String("key", "bench-key", "app key expected in X-Pusher-Key")
	secret := flag.String("secret", "bench-secret", "app secret the signature is checked with")
	flag.Parse()
	if !strings.HasPrefix(*addr, "127.0.0.1:") {
		log.Fatal("hookrecv: listen on 127.0.0.1 only")
	}
	t := &tally{key: *key, secret: []byte(*secret)}
	t.reset()
	log.Fatal(http.ListenAndServe(*addr, t))
}
