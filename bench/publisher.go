package main

import (
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"
)

// publishPlan says what the publishers send during one step.
type publishPlan struct {
	Targets   []target
	App       app
	Conns     int     // concurrent HTTP connections (goroutines)
	Rate      float64 // total publishes per second; 0 = as fast as possible
	Duration  time.Duration
	Step      int64
	KeepAlive bool
	SourceIPs int
	// PadBytes adds a string of that many bytes to each event's data, to
	// make requests slower for the server to verify and parse, or events
	// as big as real ones (see padText).
	PadBytes int
	// Channel receives every event when Channels is empty.
	Channel string
	// Channels to publish to, round-robin, with each one's subscriber count
	// so expected deliveries can be summed per successful publish.
	Channels []string
	Subs     []int
}

type publishResult struct {
	Offered   float64       `json:"offered_rate"`
	Sent      uint64        `json:"sent"`
	Errors    uint64        `json:"errors"`
	LastError string        `json:"last_error,omitempty"`
	Expected  uint64        `json:"expected_deliveries"`
	Wall      time.Duration `json:"wall_ns"`
	Dials     int           `json:"dials"`
	Request   *histogram    `json:"-"`
}

func (r publishResult) achievedRate() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Wall.Seconds()
}

// channelsBySubs lists channels that have subscribers, in a stable order.
func channelsBySubs(spec popSpec, chanSubs map[int]int) ([]string, []int) {
	keys := make([]int, 0, len(chanSubs))
	for k, v := range chanSubs {
		if v > 0 && k >= 0 {
			keys = append(keys, k)
		}
	}
	sort.Ints(keys)
	names := make([]string, len(keys))
	subs := make([]int, len(keys))
	for i, k := range keys {
		names[i] = spec.channelName(k)
		subs[i] = chanSubs[k]
	}
	return names, subs
}

// runPublishers publishes per plan. Each goroutine owns one apiClient and
// an equal share of the rate, paced by elapsed time (open loop): when the
// server is slow the offered rate does not quietly drop, the achieved rate
// shows it.
func runPublishers(p publishPlan) publishResult {
	conns := max(1, p.Conns)
	if p.Rate > 0 {
		// Below one publish per second per connection the extra connections
		// only add rounding error to the schedule.
		conns = min(conns, max(1, int(math.Ceil(p.Rate))))
	}
	if p.Channel == "" {
		p.Channel = "bench-publish"
	}
	res := publishResult{Offered: p.Rate, Request: &histogram{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	srcs := sourceAddrs(max(1, p.SourceIPs))
	start := time.Now()
	for g := 0; g < conns; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := p.Targets[g%len(p.Targets)]
			var src net.IP
			if len(srcs) > 0 {
				a := srcs[g%len(srcs)].Addr
				src = net.IPv4(a[0], a[1], a[2], a[3])
			}
			c := newAPIClient(t, p.App, p.KeepAlive, src)
			defer c.closeConn()
			local := publishResult{Request: &histogram{}}
			perConn := p.Rate / float64(conns) // 0 = closed loop, as fast as possible
			var body, data []byte
			pad := padText(p.PadBytes)
			chans := make([]string, 1)
			for k := 0; ; k++ {
				now := time.Now()
				elapsed := now.Sub(start)
				if elapsed >= p.Duration {
					break
				}
				if perConn > 0 {
					// Connection g's k-th publish is the (k*conns+g)-th overall:
					// publishes interleave evenly instead of bursting together.
					due := start.Add(time.Duration(float64(k*conns+g) / p.Rate * float64(time.Second)))
					if wait := due.Sub(now); wait > 0 {
						if due.Sub(start) >= p.Duration {
							break
						}
						time.Sleep(wait)
					}
				}
				ci := 0
				if len(p.Channels) > 0 {
					ci = (g + k*conns) % len(p.Channels)
					chans[0] = p.Channels[ci]
				} else {
					chans[0] = p.Channel
				}
				sent := time.Now()
				data = appendBenchData(data[:0], sent.UnixNano(), p.Step)
				if p.PadBytes > 0 {
					data = append(data[:len(data)-1], `,\"pad\":\"`...)
					data = append(data, pad...)
					data = append(data, `\"}`...)
				}
				body = appendEventBody(body[:0], "bench", chans, data)
				status, err := c.post(body)
				local.Request.record(time.Since(sent).Nanoseconds())
				switch {
				case err != nil:
					local.Errors++
					local.LastError = err.Error()
				case status != 200:
					local.Errors++
					local.LastError = "HTTP " + strconv.Itoa(status)
				default:
					local.Sent++
					if len(p.Subs) > 0 {
						local.Expected += uint64(p.Subs[ci])
					}
				}
			}
			mu.Lock()
			res.Sent += local.Sent
			res.Errors += local.Errors
			res.Expected += local.Expected
			res.Dials += c.dials
			if local.LastError != "" {
				res.LastError = local.LastError
			}
			res.Request.merge(local.Request)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Wall = time.Since(start)
	if p.Rate > 0 && res.Wall < p.Duration {
		// Paced publishers finish early by up to one interval; the offered
		// window is the configured duration, so rates are per that window.
		res.Wall = p.Duration
	}
	return res
}

// appendBenchData appends the event data as it must appear inside the JSON
// "data" string: {\"bench_t\":<unix ns>,\"bench_s\":<step>}.
func appendBenchData(b []byte, sentNanos, step int64) []byte {
	b = append(b, `{\"bench_t\":`...)
	b = strconv.AppendInt(b, sentNanos, 10)
	b = append(b, `,\"bench_s\":`...)
	b = strconv.AppendInt(b, step, 10)
	b = append(b, '}')
	return b
}

// padText returns n bytes that compress about as well as a real event's
// data (order lines with varying numbers, 3-4x with DEFLATE), not a run
// of one letter that compresses a hundredfold: the deflate measurements
// depend on it. No quotes or backslashes, so it sits in a JSON string as is.
func padText(n int) []byte {
	out := make([]byte, 0, n+64)
	x := uint32(2463534242)
	next := func(m uint32) int {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return int(x % m)
	}
	statuses := []string{"paid", "packed", "shipped", "delivered", "returned"}
	for i := 0; len(out) < n; i++ {
		out = fmt.Appendf(out, "line %d sku A-%04d qty %d price %d.%02d %s %s; ", i, next(10000), 1+next(9),
			next(500), next(100), statuses[next(uint32(len(statuses)))], time.Unix(1.7e9+int64(next(1e7)), 0).UTC().Format(time.DateOnly))
	}
	return out[:n]
}
