package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// runPressure measures what subscribers feel while the server is held at
// its connection limit: a publish step as in fanout, then --flood plain TCP
// connections are held open (each reconnects when the server closes it,
// as an attacker or a reconnect storm would) and the same step runs again.
// Run the server with a low fd limit (prlimit) to exercise the limit.
func runPressure(o *options) (*runResult, error) {
	if o.Channels < 1 {
		o.Channels = 1
	}
	label := fmt.Sprintf("pressure: %d subscribers, %d flood connections held", o.N, o.Flood)
	r := newResult(o, label, map[string]any{"n": o.N, "channels": o.Channels, "flood": o.Flood, "rate": o.Rate, "duration": o.Duration.String()})
	start := time.Now()
	f, step, snap0, err := openPublishFleet(o, r)
	if f != nil {
		defer f.close()
	}
	if err != nil {
		return r, err
	}
	base, err := step(o.Rate, 1)
	if err != nil {
		return nil, err
	}
	r.Steps = append(r.Steps, base)

	// The flood starts just after the step's publishers connected (kept
	// alive), as a Laravel app's HTTP client would be before an attack: at
	// the cap a new connection, the publisher's too, is refused.
	flooding := make(chan *flood, 1)
	go func() {
		time.Sleep(min(500*time.Millisecond, o.Duration/4))
		flooding <- startFlood(o.targets[0].HostPort, o.Flood)
	}()
	saturated, err := step(o.Rate, 2)
	fl := <-flooding
	held := fl.held.Load()
	counts := fl.stop()
	if err != nil {
		return nil, err
	}
	r.Steps = append(r.Steps, saturated)
	r.Notes = append(r.Notes,
		"step 1: no flood; step 2: flood held from 0.5 s in (latency and server CPU per step above)",
		fmt.Sprintf("flood: %d connections held when step 2 ended; over the run %d dials, %d refused with 503, %d closed with 408 (handshake timeout), %d closed silently, %d dial errors",
			held, counts.dials, counts.refused, counts.timedOut, counts.silent, counts.dialErrors))
	stepErrors(r)
	f.finishClient(r, snap0)
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}

// flood holds n connections that never send a byte, redialling each one
// the server closes, and counts how each ended.
type flood struct {
	quit chan struct{}
	wg   sync.WaitGroup
	held atomic.Int64
	mu   sync.Mutex
	n    floodCounts
	live map[net.Conn]struct{}
}

type floodCounts struct{ dials, refused, timedOut, silent, dialErrors int }

func startFlood(addr string, n int) *flood {
	fl := &flood{quit: make(chan struct{}), live: map[net.Conn]struct{}{}}
	for range n {
		fl.wg.Add(1)
		go fl.hold(addr)
	}
	return fl
}

func (fl *flood) hold(addr string) {
	defer fl.wg.Done()
	for {
		select {
		case <-fl.quit:
			return
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			fl.count(func(n *floodCounts) { n.dialErrors++ })
			select {
			case <-fl.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		fl.mu.Lock()
		fl.live[c] = struct{}{}
		fl.n.dials++
		fl.mu.Unlock()
		fl.held.Add(1)
		got, _ := io.ReadAll(io.LimitReader(c, 512)) // until the server closes it, or stop closes it
		fl.held.Add(-1)
		fl.mu.Lock()
		delete(fl.live, c)
		fl.mu.Unlock()
		c.Close()
		select {
		case <-fl.quit:
			return
		default:
		}
		fl.count(func(n *floodCounts) {
			switch {
			case bytes.HasPrefix(got, []byte("HTTP/1.1 503")):
				n.refused++
			case bytes.HasPrefix(got, []byte("HTTP/1.1 408")):
				n.timedOut++
			default:
				n.silent++
			}
		})
	}
}

func (fl *flood) count(f func(*floodCounts)) {
	fl.mu.Lock()
	f(&fl.n)
	fl.mu.Unlock()
}

func (fl *flood) stop() floodCounts {
	close(fl.quit)
	fl.mu.Lock()
	for c := range fl.live {
		c.Close()
	}
	fl.mu.Unlock()
	fl.wg.Wait()
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.n
}
