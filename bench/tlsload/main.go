// Command tlsload measures what a TLS socket costs Resound: wss:// connects
// per second (a full TLS handshake, the WebSocket upgrade and
// pusher:connection_established), and server memory per idle wss:// socket
// from GET /stats?gc=1. With -plain it measures ws:// the same way, for the
// ratio. Runs are bounded by -n and stop by themselves.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
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
	mode := flag.String("mode", "connect", "connect: sockets opened and closed per second; idle: server memory per open socket")
	n := flag.Int("n", 2000, "sockets (at most 6000)")
	inflight := flag.Int("inflight", 64, "connects in flight at once")
	plain := flag.Bool("plain", false, "ws:// and http:// instead of wss:// and https://")
	flag.Parse()
	if *n < 1 || *n > maxSockets || *inflight < 1 || *inflight > 1024 {
		fmt.Fprintln(os.Stderr, "tlsload: -n must be 1..6000 and -inflight 1..1024")
		os.Exit(2)
	}
	// Full handshakes every time (no session cache): the worst case, a
	// reconnect storm of new clients.
	cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	dial := func() (net.Conn, error) {
		d := &net.Dialer{Timeout: 10 * time.Second}
		if *plain {
			return d.Dial("tcp", *addr)
		}
		return tls.DialWithDialer(d, "tcp", *addr, cfg)
	}
	upgrade := []byte("GET /app/" + *key + "?protocol=7&client=tlsload&version=1.0 HTTP/1.1\r\nHost: " + *addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGxzbG9hZC1iZW5jaC1rZXk=\r\nSec-WebSocket-Version: 13\r\n\r\n")
	open := func() (net.Conn, time.Duration, error) {
		start := time.Now()
		c, err := dial()
		if err != nil {
			return nil, 0, err
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
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
		_ = c.SetDeadline(time.Time{})
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
