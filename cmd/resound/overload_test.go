package main

// Health checks and overload: /up and /ready never wait behind API work,
// and a full queue or a stalled Redis is a prompt 503 with Retry-After.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// probe opens a fresh connection, as a load balancer does, and times one
// health check from dial to the end of the response.
func probe(t *testing.T, s *server, path string) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	conn, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
	if err != nil {
		t.Fatalf("probe %s: %v", path, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = conn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("probe %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// flood keeps conns keep-alive connections each sending the request made by
// next, one at a time, until stop is closed. It records every latency and
// status. Connections fail the test only if the server drops them.
type flood struct {
	mu        sync.Mutex
	latencies []time.Duration
	statuses  map[int]int
	retryless int // 503s without Retry-After
	wg        sync.WaitGroup
	stop      chan struct{}
	stopOnce  sync.Once
	errs      atomic.Int64
	lastErr   atomic.Value
}

func startFlood(t *testing.T, s *server, conns int, next func() string) *flood {
	f := &flood{statuses: map[int]int{}, stop: make(chan struct{})}
	for range conns {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				f.errs.Add(1)
				f.lastErr.Store(err.Error())
				return
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			for {
				select {
				case <-f.stop:
					return
				default:
				}
				start := time.Now()
				_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
				if _, err := conn.Write([]byte(next())); err != nil {
					f.errs.Add(1)
					f.lastErr.Store(err.Error())
					return
				}
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					f.errs.Add(1)
					f.lastErr.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				f.mu.Lock()
				f.latencies = append(f.latencies, time.Since(start))
				f.statuses[resp.StatusCode]++
				if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
					f.retryless++
				}
				f.mu.Unlock()
				if resp.Close {
					return
				}
			}
		}()
	}
	return f
}

func (f *flood) finish() {
	f.stopOnce.Do(func() { close(f.stop) })
	f.wg.Wait()
}

func (f *flood) answered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.latencies)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// Health checks answer in about a millisecond. The bounds leave room for a
// busy 2-core CI machine running the race detector, where the event loops
// themselves are also busy reading the flood; queued behind the API, checks
// took seconds.
const (
	healthMedianBound = 100 * time.Millisecond
	healthBound       = time.Second
)

func TestHealthAnswersWhileAPIWorkersAreFlooded(t *testing.T) {
	// One worker for CPU-bound API work, and requests that are slow to
	// verify and parse: 90 KB bodies (md5 of the body, JSON of the data).
	s := startServer(t, `{"api_workers":1,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1"}]}`)
	body := fmt.Sprintf(`{"name":"e","channel":"nobody-listens","data":%q}`, strings.Repeat("x", 60000))
	f := startFlood(t, s, 120, func() string { return rawRequest(s.addr, "POST", "/apps/app-1/events", nil, body, nil) })
	defer f.finish()
	eventually(t, 20*time.Second, "the flood to get answers", func() (bool, string) {
		return f.answered() >= 50, fmt.Sprintf("%d answered", f.answered())
	})
	var probes []time.Duration
	for i := 0; i < 20; i++ {
		for _, path := range []string{"/up", "/ready"} {
			status, took := probe(t, s, path)
			if status != 200 {
				t.Fatalf("%s answered %d during the flood", path, status)
			}
			probes = append(probes, took)
		}
	}
	f.finish()
	f.mu.Lock()
	floodMedian := median(f.latencies)
	statuses := fmt.Sprint(f.statuses)
	f.mu.Unlock()
	slowest := probes[0]
	for _, d := range probes {
		slowest = max(slowest, d)
	}
	t.Logf("health checks: median %v, slowest %v; flood requests: median %v, statuses %s", median(probes), slowest, floodMedian, statuses)
	if median(probes) > healthMedianBound || slowest > healthBound {
		t.Fatalf("health checks took %v (median) and %v (slowest) during the flood; bounds %v and %v",
			median(probes), slowest, healthMedianBound, healthBound)
	}
	if floodMedian < 5*median(probes) {
		t.Fatalf("the flood did not queue (median %v vs health %v): the test proves nothing", floodMedian, median(probes))
	}
	if f.errs.Load() > 0 {
		t.Fatalf("%d flood connections failed: %v", f.errs.Load(), f.lastErr.Load())
	}
	if !s.alive() {
		t.Fatal("server died")
	}
}

// pause stops redis-server with SIGSTOP: it keeps its connections and
// answers nothing, as a hung Redis does. resume undoes it.
func (r *redisServer) pause() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatalf("SIGSTOP redis-server: %v", err)
	}
}

func (r *redisServer) resume() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatalf("SIGCONT redis-server: %v", err)
	}
}

func TestClusterHealthAndFullQueueWhileRedisStalled(t *testing.T) {
	r := startRedis(t)
	const timeout = 2 * time.Second
	config := fmt.Sprintf(`{"api_bus_workers":2,"api_queue":4,"api_timeout":%g,"apps":%s,"scaling":%s}`,
		timeout.Seconds(), defaultAppList, scalingBlock(r, "stall", 10))
	s := startServer(t, config)
	if status, body, err := apiTry(app1, s, "GET", "/apps/app-1/channels", nil, ""); err != nil || status != 200 {
		t.Fatalf("query before the stall: %d %s %v", status, body, err)
	}
	r.pause()
	defer r.resume()

	// Queries read cluster state from Redis: two bus workers hang on it, four
	// wait in the queue, and the rest must be refused at once.
	const queries = 16
	type result struct {
		status     int
		retryAfter string
		body       string
		took       time.Duration
	}
	results := make(chan result, queries)
	for range queries {
		go func() {
			start := time.Now()
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				results <- result{body: err.Error(), took: time.Since(start)}
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			_, _ = conn.Write([]byte(rawRequest(s.addr, "GET", "/apps/app-1/channels", nil, "", nil)))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				results <- result{body: err.Error(), took: time.Since(start)}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			results <- result{resp.StatusCode, resp.Header.Get("Retry-After"), string(b), time.Since(start)}
		}()
	}
	// Health checks while the queries hang.
	var probes []time.Duration
	for i := 0; i < 10; i++ {
		for _, path := range []string{"/up", "/ready"} {
			status, took := probe(t, s, path)
			if status != 200 || took > healthBound {
				t.Fatalf("%s with Redis stalled: %d after %v (bound %v)", path, status, took, healthBound)
			}
			probes = append(probes, took)
		}
	}
	if m := median(probes); m > healthMedianBound {
		t.Fatalf("health checks took %v (median) with Redis stalled; bound %v", m, healthMedianBound)
	}
	prompt := 0
	for range queries {
		res := <-results
		if res.status != 503 || res.retryAfter == "" || strings.Count(strings.TrimSpace(res.body), "\n") > 0 {
			t.Fatalf("query with Redis stalled: %d Retry-After=%q %q after %v", res.status, res.retryAfter, res.body, res.took)
		}
		if res.took < time.Second {
			prompt++
			if !strings.Contains(res.body, "Server busy") {
				t.Fatalf("a prompt refusal must say the server is busy: %q", res.body)
			}
		}
		// The slowest wait for a worker, then for Redis: the API's deadline
		// plus the cluster layer's own 2 s Redis timeout bound them.
		if res.took > timeout+2*time.Second+time.Second {
			t.Fatalf("query answered only after %v", res.took)
		}
	}
	if prompt < queries-2-4 {
		t.Fatalf("%d of %d queries were refused at once; expected at least %d beyond the 2 workers and 4 queued", prompt, queries, queries-6)
	}
	r.resume()
	eventually(t, 15*time.Second, "queries to answer again after Redis resumes", func() (bool, string) {
		status, body, err := apiTry(app1, s, "GET", "/apps/app-1/channels", nil, "")
		return err == nil && status == 200, fmt.Sprintf("%d %s %v", status, body, err)
	})
	if !strings.Contains(s.logs.String(), "api: 503") {
		t.Fatalf("503s were not logged:\n%s", s.logs.String())
	}
	if n := strings.Count(s.logs.String(), "api: 503"); n > 6 {
		t.Fatalf("%d log lines for 503s in a few seconds: the log is not rate-limited\n%s", n, s.logs.String())
	}
}

// A publish sent to a Redis that already hangs is not confirmed in time:
// 504, and Redis's deadline check drops it when it resumes.
func TestClusterPublishWhileRedisStalledIs504(t *testing.T) {
	r := startRedis(t)
	const timeout = 2 * time.Second
	config := fmt.Sprintf(`{"api_timeout":%g,"apps":%s,"scaling":%s}`, timeout.Seconds(), defaultAppList, scalingBlock(r, "stallpub", 10))
	s := startServer(t, config)
	sub := dial(t, s)
	sub.subscribe("news")
	triggerAs(t, app1, s, "news", "before", "1", "")
	sub.expect("before")
	r.pause()
	defer r.resume()
	start := time.Now()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	_, _ = conn.Write([]byte(rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":"during","channel":"news","data":"2"}`, nil)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if resp.StatusCode != 504 || !strings.Contains(string(b), "Not confirmed") {
		t.Fatalf("publish with Redis stalled: %d %q after %v", resp.StatusCode, b, took)
	}
	if took > timeout+time.Second {
		t.Fatalf("answered after %v, the deadline is %v", took, timeout)
	}
	// Sent after the stall began, it is past its deadline when Redis runs
	// it: delivered nowhere, also not on this node once Redis is back.
	r.resume()
	triggerAs(t, app1, s, "news", "after", "3", "")
	sub.expect("after") // fails on "during" first
}
