package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// slowResult is the slow-consumer scenario: N sockets that subscribe and
// never read while events are published, against the server's
// max_outbound_bytes; one fast subscriber measures latency meanwhile.
type slowResult struct {
	N               int            `json:"n"`
	Bound           int            `json:"bound_bytes"`
	EventBytes      int            `json:"event_bytes"`
	Published       int64          `json:"published"`
	HeapBaseline    int64          `json:"heap_baseline_bytes"`
	HeapPeak        int64          `json:"heap_peak_bytes"`
	HeapGrowthRatio float64        `json:"heap_growth_over_n_times_bound"`
	RSSBaseline     int64          `json:"rss_baseline_bytes"`
	RSSPeak         int64          `json:"rss_peak_bytes"`
	TCPMemBaseline  int64          `json:"kernel_tcp_mem_baseline_bytes"`
	TCPMemPeak      int64          `json:"kernel_tcp_mem_peak_bytes"`
	TCPMemPerSocket float64        `json:"kernel_tcp_mem_growth_per_slow_socket_bytes"`
	CutOff          int            `json:"cut_off"`
	StillOpen       int            `json:"still_open"`
	FastReceived    int64          `json:"fast_received"`
	FastLatency     latencySummary `json:"fast_latency"`
}

const slowEventBytes = 4000

// runSlow opens --n sockets that never read, one that does, and publishes
// --rate events/s of 4 KB for --duration. Peak server heap (GET /stats) is
// compared with n × --bound (the server's max_outbound_bytes); kernel TCP
// memory comes from /proc/net/sockstat (system-wide, both ends on loopback).
func runSlow(o *options) (*runResult, error) {
	if len(o.targets) != 1 {
		return nil, errors.New("slow: one target")
	}
	t := o.targets[0]
	label := fmt.Sprintf("slow consumers: %d non-reading sockets, bound %s, %.0f events/s of %d B for %v",
		o.N, bytesStr(float64(o.Bound)), o.Rate, slowEventBytes, o.Duration)
	r := newResult(o, label, map[string]any{"n": o.N, "bound": o.Bound, "rate": o.Rate, "event_bytes": slowEventBytes})
	start := time.Now()
	res := &slowResult{N: o.N, Bound: o.Bound, EventBytes: slowEventBytes}

	base, err := fetchStats(o.targets, true)
	if err != nil {
		return nil, err
	}
	res.HeapBaseline, res.RSSBaseline = base.HeapInuse, base.RSS
	res.TCPMemBaseline = kernelTCPMem()

	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	for i := 0; i < o.N; i++ {
		c, _, err := slowSubscriber(t, o.App)
		if err != nil {
			return nil, fmt.Errorf("slow socket %d: %w", i, err)
		}
		slow = append(slow, c)
	}
	fast, fr, err := slowSubscriber(t, o.App)
	if err != nil {
		return nil, fmt.Errorf("fast socket: %w", err)
	}
	defer fast.Close()

	var hist histogram
	var histMu sync.Mutex
	var received atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			_ = fast.SetReadDeadline(time.Now().Add(o.Duration + 10*time.Second))
			payload, err := readServerFrame(fr)
			if err != nil {
				return
			}
			if i := bytes.Index(payload, []byte(`bench_t\":`)); i >= 0 {
				rest := payload[i+len(`bench_t\":`):]
				if j := bytes.IndexByte(rest, ','); j > 0 {
					if sent, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
						histMu.Lock()
						hist.record(time.Now().UnixNano() - sent)
						histMu.Unlock()
						received.Add(1)
					}
				}
			}
		}
	}()

	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if m, err := fetchStats(o.targets, false); err == nil {
				res.HeapPeak = max(res.HeapPeak, m.HeapInuse)
				res.RSSPeak = max(res.RSSPeak, m.RSS)
			}
			res.TCPMemPeak = max(res.TCPMemPeak, kernelTCPMem())
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	pub := newAPIClient(t, o.App, true, nil)
	defer pub.closeConn()
	pad := strings.Repeat("p", slowEventBytes-60)
	interval := time.Duration(float64(time.Second) / o.Rate)
	next := time.Now()
	end := next.Add(o.Duration)
	for time.Now().Before(end) && time.Now().Before(o.deadline) {
		var data []byte
		data = appendBenchData(data, time.Now().UnixNano(), 0)
		data = append(data[:len(data)-1], `,\"pad\":\"`...)
		data = append(data, pad...)
		data = append(data, `\"}`...)
		body := appendEventBody(nil, "slow", []string{"slow"}, data)
		if status, err := pub.post(body); err != nil || status != 200 {
			r.Errors = append(r.Errors, fmt.Sprintf("publish: status %d, %v", status, err))
			break
		}
		res.Published++
		next = next.Add(interval)
		time.Sleep(time.Until(next))
	}
	// Let the fast reader catch up, then stop sampling.
	deadline := time.Now().Add(o.Drain)
	for received.Load() < res.Published && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-sampled
	fast.Close()
	<-readerDone

	// A slow socket that was cut off reads EOF once the kernel's buffers are
	// drained; one still open times out.
	var wg sync.WaitGroup
	var cut, open atomic.Int64
	for _, c := range slow {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				open.Add(1)
			} else {
				cut.Add(1)
			}
		}(c)
	}
	wg.Wait()
	res.CutOff, res.StillOpen = int(cut.Load()), int(open.Load())
	res.FastReceived = received.Load()
	res.FastLatency = hist.summary()
	if o.N > 0 && o.Bound > 0 {
		res.HeapGrowthRatio = float64(res.HeapPeak-res.HeapBaseline) / float64(o.N*o.Bound)
		res.TCPMemPerSocket = float64(res.TCPMemPeak-res.TCPMemBaseline) / float64(o.N)
	}
	if res.FastReceived < res.Published {
		r.Errors = append(r.Errors, fmt.Sprintf("fast subscriber got %d of %d events", res.FastReceived, res.Published))
	}
	r.Slow = res
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}

// slowSubscriber opens a socket subscribed to "slow" and returns it with
// its reader, positioned after subscription_succeeded.
func slowSubscriber(t target, a app) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", t.HostPort, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(buildUpgradeRequest(t.HostPort, a.Key)); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	sub := appendMaskedFrame(nil, opText, []byte(`{"event":"pusher:subscribe","data":{"channel":"slow"}}`), [4]byte{1, 2, 3, 4})
	if _, err := c.Write(sub); err != nil {
		c.Close()
		return nil, nil, err
	}
	for {
		p, err := readServerFrame(br)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		if bytes.Contains(p, []byte("subscription_succeeded")) {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, br, nil
}

// readServerFrame reads one whole unmasked server frame and returns its
// payload, peeking exactly as many bytes as the header announces.
func readServerFrame(br *bufio.Reader) ([]byte, error) {
	head, err := br.Peek(2)
	if err != nil {
		return nil, err
	}
	hn := 2
	switch head[1] & 0x7f {
	case 126:
		hn = 4
	case 127:
		hn = 10
	}
	if head, err = br.Peek(hn); err != nil {
		return nil, err
	}
	var length int
	switch hn {
	case 4:
		length = int(binary.BigEndian.Uint16(head[2:4]))
	case 10:
		length = int(min(binary.BigEndian.Uint64(head[2:10]), uint64(maxFramePayload+1)))
	default:
		length = int(head[1] & 0x7f)
	}
	if hn+length > br.Size() {
		return nil, errFrameTooLarge
	}
	buf, err := br.Peek(hn + length)
	if err != nil {
		return nil, err
	}
	f, n, err := parseFrame(buf)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("bad frame: %v", err)
	}
	p := append([]byte(nil), f.payload...)
	_, _ = br.Discard(n)
	return p, nil
}

// kernelTCPMem is /proc/net/sockstat's "TCP ... mem" (pages) in bytes.
func kernelTCPMem() int64 {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "TCP:") {
			continue
		}
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "mem" {
				pages, _ := strconv.ParseInt(f[i+1], 10, 64)
				return pages * int64(os.Getpagesize())
			}
		}
	}
	return 0
}

func printSlow(w io.Writer, s *slowResult) {
	fmt.Fprintf(w, "published %d events; slow sockets cut off %d of %d (%d still open)\n", s.Published, s.CutOff, s.N, s.StillOpen)
	fmt.Fprintf(w, "server heap: %s -> peak %s: growth %.2f x (n x bound = %s)\n", bytesStr(float64(s.HeapBaseline)),
		bytesStr(float64(s.HeapPeak)), s.HeapGrowthRatio, bytesStr(float64(s.N*s.Bound)))
	fmt.Fprintf(w, "server RSS: %s -> peak %s\n", bytesStr(float64(s.RSSBaseline)), bytesStr(float64(s.RSSPeak)))
	fmt.Fprintf(w, "kernel TCP mem (system, both ends): %s -> peak %s (%s per slow socket)\n", bytesStr(float64(s.TCPMemBaseline)),
		bytesStr(float64(s.TCPMemPeak)), bytesStr(s.TCPMemPerSocket))
	fmt.Fprintf(w, "fast subscriber: %d events, latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", s.FastReceived,
		s.FastLatency.P50Ms, s.FastLatency.P99Ms, s.FastLatency.MaxMs)
}
