// Command tlsload measures what a TLS socket costs Resound: wss:// connects
// per second (a full TLS handshake, the WebSocket upgrade and
// pusher:connection_established), and server memory per idle wss:// socket
// from GET /stats?gc=1. With -plain it measures ws:// the same way, for the
// ratio. Runs are bounded by -n and stop by themselves.
package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

const maxSockets = 6000 // three descriptors each on the server, under a 20,000 open-file cap

type stats struct {
	RSS        int64 `json:"rss_bytes"`
	Heap       int64 `json:"heap_inuse_bytes"`
	Objects    int64 `json:"heap_objects"`
	Goroutines int64 `json:"goroutines"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6001", "server host:port")
	key := flag.String("key", "bench-key", "app key")
	mode := flag.String("mode", "connect", "connect: sockets opened and closed per second; idle: server memory per open socket; storm: pusher:ping round trips of one open socket, quiet and then during a connect storm of -n sockets")
	n := flag.Int("n", 2000, "sockets (at most 6000)")
	inflight := flag.Int("inflight", 64, "connects in flight at once")
	plain := flag.Bool("plain", false, "ws:// and http:// instead of wss:// and https://")
	appID := flag.String("app-id", "bench", "app id (for -event-bytes)")
	secret := flag.String("secret", "bench-secret", "app secret (for -event-bytes)")
	eventBytes := flag.Int("event-bytes", 0, "idle: also subscribe every socket, publish one event this big and measure again once all got it (at most 100000)")
	deadline := flag.Duration("deadline", 0, "connect: each socket must be established within this (a client that gives up); 0 means 10 s")
	flag.Parse()
	if *n < 1 || *n > maxSockets || *inflight < 1 || *inflight > maxSockets || *eventBytes < 0 || *eventBytes > 100000 {
		fmt.Fprintln(os.Stderr, "tlsload: -n and -inflight must be 1..6000")
		os.Exit(2)
	}
	// Full handshakes every time (no session cache): the worst case, a
	// reconnect storm of new clients.
	cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	limit := 10 * time.Second
	if *deadline > 0 {
		limit = *deadline
	}
	dial := func(by time.Time) (net.Conn, error) {
		d := &net.Dialer{Deadline: by}
		if *plain {
			return d.Dial("tcp", *addr)
		}
		return tls.DialWithDialer(d, "tcp", *addr, cfg)
	}
	upgrade := []byte("GET /app/" + *key + "?protocol=7&client=tlsload&version=1.0 HTTP/1.1\r\nHost: " + *addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGxzbG9hZC1iZW5jaC1rZXk=\r\nSec-WebSocket-Version: 13\r\n\r\n")
	var readers sync.Map // net.Conn -> *bufio.Reader, for -event-bytes
	open := func() (net.Conn, time.Duration, error) {
		start := time.Now()
		c, err := dial(start.Add(limit))
		if err != nil {
			return nil, 0, err
		}
		_ = c.SetDeadline(start.Add(limit))
		if _, err := c.Write(upgrade); err != nil {
			c.Close()
			return nil, 0, err
		}
		r := bufio.NewReader(c)
		var got []byte
		for !bytes.Contains(got, []byte("connection_established")) {
			b, err := r.ReadSlice('}')
			got = append(got, b...)
			if err != nil && err != bufio.ErrBufferFull {
				c.Close()
				return nil, 0, fmt.Errorf("reading the upgrade answer: %w (got %q)", err, got)
			}
		}
		if *eventBytes > 0 {
			if _, err := c.Write(maskedText(`{"event":"pusher:subscribe","data":{"channel":"tlsload"}}`)); err != nil {
				c.Close()
				return nil, 0, err
			}
			if err := readUntil(r, "subscription_succeeded", 0); err != nil {
				c.Close()
				return nil, 0, err
			}
		}
		_ = c.SetDeadline(time.Time{})
		readers.Store(c, r)
		return c, time.Since(start), nil
	}

	var (
		mu        sync.Mutex
		conns     []net.Conn
		latencies []time.Duration
		failures  atomic.Int64
		firstErr  atomic.Value
		next      atomic.Int64
		wg        sync.WaitGroup
	)
	if *mode == "storm" {
		stormProbe(open, *n, *inflight)
		return
	}
	keep := *mode == "idle"
	var before stats
	if keep {
		before = serverStats(*addr, *plain)
	}
	start := time.Now()
	for range *inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				c, d, err := open()
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mu.Lock()
				latencies = append(latencies, d)
				if keep {
					conns = append(conns, c)
				}
				mu.Unlock()
				if !keep {
					c.Close()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	scheme := "wss"
	if *plain {
		scheme = "ws"
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Round(10 * time.Microsecond)
	}
	fmt.Printf("%s %s: %d sockets opened in %s = %.0f/s, %d failures, connect p50 %s p99 %s\n",
		scheme, *mode, len(latencies), elapsed.Round(time.Millisecond), float64(len(latencies))/elapsed.Seconds(),
		failures.Load(), pct(0.5), pct(0.99))
	if e := firstErr.Load(); e != nil {
		fmt.Println("first failure:", e)
	}
	if keep {
		time.Sleep(time.Second) // let the hand-over pool settle
		after := serverStats(*addr, *plain)
		k := int64(max(len(conns), 1))
		fmt.Printf("server per idle %s socket: %d B RSS, %d B Go heap, %.1f heap objects, %.2f goroutines (RSS %d -> %d MiB)\n",
			scheme, (after.RSS-before.RSS)/k, (after.Heap-before.Heap)/k, float64(after.Objects-before.Objects)/float64(k),
			float64(after.Goroutines-before.Goroutines)/float64(k), before.RSS>>20, after.RSS>>20)
		if *eventBytes > 0 {
			publish(*addr, *plain, *appID, *key, *secret, *eventBytes)
			var wg sync.WaitGroup
			var lost atomic.Int64
			work := make(chan net.Conn)
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for c := range work {
						r, _ := readers.Load(c)
						_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
						if readUntil(r.(*bufio.Reader), "tlsload-event", *eventBytes) != nil {
							lost.Add(1)
						}
					}
				}()
			}
			for _, c := range conns {
				work <- c
			}
			close(work)
			wg.Wait()
			time.Sleep(time.Second)
			ev := serverStats(*addr, *plain)
			fmt.Printf("after one %d-byte event to every socket (%d did not get it): %d B RSS, %d B Go heap per socket\n",
				*eventBytes, lost.Load(), (ev.RSS-before.RSS)/k, (ev.Heap-before.Heap)/k)
		}
		for _, c := range conns {
			c.Close()
		}
	}
}

func serverStats(addr string, plain bool) stats {
	scheme := "https"
	if plain {
		scheme = "http"
	}
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get(scheme + "://" + addr + "/stats?gc=1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsload: GET /stats (start the server with --expose-stats):", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s stats
	if err := json.Unmarshal(b, &s); err != nil {
		fmt.Fprintf(os.Stderr, "tlsload: /stats answered %d %q\n", resp.StatusCode, b)
		os.Exit(1)
	}
	return s
}

// maskedText is a client text frame (clients must mask).
func maskedText(payload string) []byte {
	mask := [4]byte{1, 2, 3, 4}
	out := []byte{0x81}
	if n := len(payload); n < 126 {
		out = append(out, 0x80|byte(n))
	} else {
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	}
	out = append(out, mask[:]...)
	for i := range len(payload) {
		out = append(out, payload[i]^mask[i%4])
	}
	return out
}

// readUntil reads until want has been seen and at least min bytes read.
func readUntil(r *bufio.Reader, want string, min int) error {
	var got []byte
	total := 0
	for !bytes.Contains(got, []byte(want)) || total < min {
		b, err := r.ReadSlice('}')
		total += len(b)
		if len(got) < 4096 {
			got = append(got, b...)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
	return nil
}

// publish sends one signed event of size bytes to channel tlsload.
func publish(addr string, plain bool, appID, key, secret string, size int) {
	body := []byte(fmt.Sprintf(`{"name":"tlsload-event","channel":"tlsload","data":"%s"}`, bytes.Repeat([]byte("p"), size)))
	path := "/apps/" + appID + "/events"
	sum := md5.Sum(body)
	query := fmt.Sprintf("auth_key=%s&auth_timestamp=%d&auth_version=1.0&body_md5=%s", key, time.Now().Unix(), hex.EncodeToString(sum[:]))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("POST\n" + path + "\n" + query))
	scheme := "https"
	if plain {
		scheme = "http"
	}
	url := scheme + "://" + addr + path + "?" + query + "&auth_signature=" + hex.EncodeToString(mac.Sum(nil))
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsload: publish:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(os.Stderr, "tlsload: publish answered %d %s\n", resp.StatusCode, b)
		os.Exit(1)
	}
}

// stormProbe times pusher:ping -> pusher:pong on one open socket every
// 20 ms: 3 s quiet, then while -n sockets connect (and close) -inflight at
// a time, so the cost a connect storm puts on sockets already served shows.
func stormProbe(open func() (net.Conn, time.Duration, error), n, inflight int) {
	probe, _, err := open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsload: probe socket:", err)
		os.Exit(1)
	}
	defer probe.Close()
	r := bufio.NewReader(probe)
	ping := maskedText(`{"event":"pusher:ping","data":{}}`)
	rtts := func(stop func() bool) []time.Duration {
		var out []time.Duration
		for !stop() {
			start := time.Now()
			_ = probe.SetDeadline(start.Add(10 * time.Second))
			if _, err := probe.Write(ping); err != nil {
				fmt.Fprintln(os.Stderr, "tlsload: probe:", err)
				os.Exit(1)
			}
			if err := readUntil(r, "pusher:pong", 0); err != nil {
				fmt.Fprintln(os.Stderr, "tlsload: probe:", err)
				os.Exit(1)
			}
			out = append(out, time.Since(start))
			time.Sleep(20 * time.Millisecond)
		}
		return out
	}
	quietUntil := time.Now().Add(3 * time.Second)
	quiet := rtts(func() bool { return time.Now().After(quietUntil) })
	var done atomic.Bool
	var opened, failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	stormStart := time.Now()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				c, _, err := open()
				if err != nil {
					failed.Add(1)
					continue
				}
				opened.Add(1)
				c.Close()
			}
		}()
	}
	go func() { wg.Wait(); done.Store(true) }()
	storm := rtts(done.Load)
	elapsed := time.Since(stormStart)
	show := func(name string, d []time.Duration) {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		if len(d) == 0 {
			fmt.Printf("%s: no round trips\n", name)
			return
		}
		fmt.Printf("%s: %d pings, round trip p50 %s p99 %s max %s\n", name, len(d),
			d[len(d)/2].Round(10*time.Microsecond), d[min(len(d)-1, len(d)*99/100)].Round(10*time.Microsecond), d[len(d)-1].Round(10*time.Microsecond))
	}
	show("quiet", quiet)
	show(fmt.Sprintf("during %d connects in %s (%.0f/s, %d failed)", opened.Load(), elapsed.Round(time.Millisecond),
		float64(opened.Load())/elapsed.Seconds(), failed.Load()), storm)
}
