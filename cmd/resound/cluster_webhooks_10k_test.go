package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hookTally is a webhook receiver for load: like hookReceiver it checks
// every POST's method, key, content type and signature, but it counts each
// event rather than keeping the list, and never blocks a sender.
type hookTally struct {
	url    string
	mu     sync.Mutex
	count  map[string]int
	events int
	posts  int
	bad    []string
	news   chan struct{}
}

func newHookTally(t *testing.T) *hookTally {
	h := &hookTally{count: map[string]int{}, news: make(chan struct{}, 1)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/pusher/webhooks"
	return h
}

func (h *hookTally) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	events, problem := readHookPost(req)
	h.mu.Lock()
	defer h.mu.Unlock()
	if problem != "" {
		h.bad = append(h.bad, problem)
	}
	h.posts++
	for _, e := range events {
		h.count[e.String()]++
		h.events++
	}
	select {
	case h.news <- struct{}{}:
	default:
	}
}

func (h *hookTally) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.events
}

// loadSocket is a test client whose frames a goroutine of its own reads,
// counting confirmations, so that hundreds of subscriptions and the
// presence traffic they cause never back up in the server.
type loadSocket struct {
	c         *client
	user      string
	node      int
	channels  []string // what it joins first
	succeeded atomic.Int64
	pongs     atomic.Int64
	closing   atomic.Bool
}

// loadRun is what the readers of one test share: a poke on progress, and
// the first problems any of them saw.
type loadRun struct {
	progress chan struct{}
	mu       sync.Mutex
	problems []string
}

func (l *loadRun) poke() {
	select {
	case l.progress <- struct{}{}:
	default:
	}
}

func (l *loadRun) problem(s string) {
	l.mu.Lock()
	if len(l.problems) < 10 {
		l.problems = append(l.problems, s)
	}
	l.mu.Unlock()
	l.poke()
}

func (l *loadRun) failed() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.problems, "\n")
}

func (l *loadRun) read(s *loadSocket) {
	for {
		f, err := s.c.readFrame(2 * time.Minute)
		if err != nil {
			if !s.closing.Load() {
				l.problem(fmt.Sprintf("socket of %s on node %d: %v", s.user, s.node, err))
			}
			return
		}
		var m message
		if f.op != 0x1 || json.Unmarshal(f.payload, &m) != nil {
			l.problem(fmt.Sprintf("socket of %s on node %d got opcode %d %q", s.user, s.node, f.op, f.payload))
			continue
		}
		switch m.Event {
		case "pusher_internal:subscription_succeeded":
			s.succeeded.Add(1)
			l.poke()
		case "pusher:pong":
			s.pongs.Add(1)
			l.poke()
		case "pusher:error", "pusher:subscription_error":
			l.problem(fmt.Sprintf("socket of %s on node %d: %s on %q: %s", s.user, s.node, m.Event, m.Channel, m.Data))
		}
	}
}

// waitUntil waits for cond, woken by the readers or the receiver, failing
// at once when a reader saw a problem.
func (l *loadRun) waitUntil(t *testing.T, hooks *hookTally, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if p := l.failed(); p != "" {
			t.Fatalf("while waiting for %s:\n%s", what, p)
		}
		select {
		case <-l.progress:
		case <-hooks.news:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

func subscribeFrame(c *client, ch, user string) []byte {
	data := fmt.Sprintf(`{"user_id":%q}`, user)
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe",
		"data": map[string]any{"channel": ch, "auth": c.auth(ch, data), "channel_data": data}})
	return clientFrame(0x1, true, b)
}

func unsubscribeFrame(ch string) []byte {
	return clientFrame(0x1, true, []byte(`{"event":"pusher:unsubscribe","data":{"channel":"`+ch+`"}}`))
}

var pingFrame = clientFrame(0x1, true, []byte(`{"event":"pusher:ping","data":{}}`))

// TestClusterWebhooksTenThousandEventsEachOnce: three nodes on one Redis
// produce over 10,000 webhook events from transitions they race on, and
// the receiver, checking every signature, gets each exactly once.
//
// Six users each have a socket on two nodes, and all twelve sockets join
// the same 720 presence channels at once: the first subscriber of a
// channel (channel_occupied) and a user's first socket (member_added) are
// decided between nodes in Redis. Then they leave at once: half the
// sockets walk the channels upwards and half downwards, and every fourth
// socket disconnects half-way instead of unsubscribing, so the last leaver
// of a channel (channel_vacated) and of a user (member_removed) is on one
// node for some channels and another for the rest. Separately, a user on
// 90 channels leaves each from one node and rejoins from the next within
// delay_ms, which fires nothing, before leaving for good.
func TestClusterWebhooksTenThousandEventsEachOnce(t *testing.T) {
	const (
		channels  = 720 // each socket holds them all, under max_channels_per_connection 1000
		users     = 6
		flaps     = 90
		delayMs   = 3000
		nodeCount = 3
	)
	r := startRedis(t)
	hooks := newHookTally(t)
	apps := fmt.Sprintf(`[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"],"webhooks":[{"url":%q,"event_types":%s}]}]`, hooks.url, allHookEvents)
	cfg := fmt.Sprintf(`{"expose_stats":true,"webhooks":{"delay_ms":%d,"batch_size":500,"batch_ms":20,"queue_size":50000,"retry_min_ms":50,"retry_max_ms":200},"apps":%s,"scaling":%s}`,
		delayMs, apps, scalingBlock(r, "resound", 5))
	nodes := startCluster(t, nodeCount, cfg)
	run := &loadRun{progress: make(chan struct{}, 1)}
	start := time.Now()

	open := func(node int, user string, chans []string) *loadSocket {
		s := &loadSocket{c: dial(t, nodes[node]), user: user, node: node, channels: chans}
		go run.read(s)
		t.Cleanup(func() { s.closing.Store(true); s.c.conn.Close() })
		return s
	}
	bulk := make([]string, channels)
	for k := range bulk {
		bulk[k] = fmt.Sprintf("presence-race-%d", k)
	}
	var sockets []*loadSocket
	for u := range users {
		user := fmt.Sprintf("u%d", u)
		sockets = append(sockets, open(u%nodeCount, user, bulk), open((u+1)%nodeCount, user, bulk))
	}
	flapChans := make([][]string, nodeCount) // flap channel j starts on node j%3
	for j := range flaps {
		flapChans[j%nodeCount] = append(flapChans[j%nodeCount], fmt.Sprintf("presence-flap-%d", j))
	}
	var flappers []*loadSocket
	for n := range nodeCount {
		flappers = append(flappers, open(n, "f", flapChans[n]))
	}

	// Every socket writes all its joins at once, in the same order, so
	// the nodes meet on each channel at about the same moment.
	writeAll := func(ss []*loadSocket, frames func(s *loadSocket) []byte) {
		var wg sync.WaitGroup
		for _, s := range ss {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.c.conn.Write(frames(s)); err != nil {
					run.problem(fmt.Sprintf("write to node %d: %v", s.node, err))
				}
			}()
		}
		wg.Wait()
	}
	joins := func(s *loadSocket) []byte {
		var out []byte
		for _, ch := range s.channels {
			out = append(out, subscribeFrame(s.c, ch, s.user)...)
		}
		return out
	}
	everyone := append(append([]*loadSocket{}, sockets...), flappers...)
	writeAll(everyone, joins)
	run.waitUntil(t, hooks, 60*time.Second, "every join confirmed", func() bool {
		for _, s := range everyone {
			if s.succeeded.Load() < int64(len(s.channels)) {
				return false
			}
		}
		return true
	})
	joined := time.Since(start)

	// The flapping user leaves each channel on one node and, once the
	// leave is done there, rejoins on the next node: within delay_ms, so
	// neither member_removed nor channel_vacated may be sent.
	flapStart := time.Now()
	for n, from := range flappers {
		to := flappers[(n+1)%nodeCount]
		var frames []byte
		for _, ch := range from.channels {
			frames = append(frames, unsubscribeFrame(ch)...)
		}
		pongs := from.pongs.Load()
		if _, err := from.c.conn.Write(append(frames, pingFrame...)); err != nil {
			t.Fatal(err)
		}
		run.waitUntil(t, hooks, 10*time.Second, "the flapping user's leaves", func() bool { return from.pongs.Load() > pongs })
		// The cluster has seen each channel empty: the rejoins below are
		// comebacks, not second sockets that overlapped the first.
		eventually(t, 2*time.Second, "the flapping user gone cluster-wide", func() (bool, string) {
			for _, ch := range from.channels {
				if ids, body, err := usersOf(app1, nodes[(n+2)%nodeCount], ch); err != nil || len(ids) != 0 {
					return false, fmt.Sprint(ch, " ", err, body)
				}
			}
			return true, ""
		})
		before := to.succeeded.Load()
		var rejoins []byte
		for _, ch := range from.channels {
			rejoins = append(rejoins, subscribeFrame(to.c, ch, "f")...)
		}
		if _, err := to.c.conn.Write(rejoins); err != nil {
			t.Fatal(err)
		}
		run.waitUntil(t, hooks, 10*time.Second, "the flapping user's rejoins", func() bool {
			return to.succeeded.Load() >= before+int64(len(from.channels))
		})
	}
	flapTook := time.Since(flapStart)

	// Everyone leaves at once, in orders and ways that spread the last
	// leaver over the nodes.
	var wg sync.WaitGroup
	for i, s := range sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := append([]string{}, bulk...)
			if i%2 == 1 {
				sort.Sort(sort.Reverse(sort.StringSlice(order)))
			}
			n := len(order)
			if i%4 == 3 {
				n /= 2
			}
			var frames []byte
			for _, ch := range order[:n] {
				frames = append(frames, unsubscribeFrame(ch)...)
			}
			if _, err := s.c.conn.Write(frames); err != nil {
				run.problem(fmt.Sprintf("write to node %d: %v", s.node, err))
			}
			if n < len(order) {
				s.closing.Store(true)
				s.c.conn.Close()
			}
		}()
	}
	for _, f := range flappers {
		f.closing.Store(true)
		f.c.conn.Close()
	}
	wg.Wait()

	want := map[string]int{}
	for _, ch := range bulk {
		want["channel_occupied "+ch], want["channel_vacated "+ch] = 1, 1
		for u := range users {
			want[fmt.Sprintf("member_added %s u%d", ch, u)] = 1
			want[fmt.Sprintf("member_removed %s u%d", ch, u)] = 1
		}
	}
	for _, list := range flapChans {
		for _, ch := range list {
			for _, e := range []string{"channel_occupied %s", "member_added %s f", "member_removed %s f", "channel_vacated %s"} {
				want[fmt.Sprintf(e, ch)] = 1
			}
		}
	}
	total := 0
	for _, n := range want {
		total += n
	}
	if total < 10000 {
		t.Fatalf("the load makes %d events, under 10,000", total)
	}
	run.waitUntil(t, hooks, 60*time.Second, fmt.Sprintf("%d webhook events", total), func() bool { return hooks.total() >= total })
	delivered := time.Since(start)

	// A duplicate or a late event would come within the delay of the
	// last leave; one marker per node after that closes the run.
	time.Sleep(delayMs*time.Millisecond + 500*time.Millisecond)
	for n, s := range nodes {
		c := dial(t, s)
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": fmt.Sprintf("cache-end-%d", n)}})
		c.expect("pusher:cache_miss", "pusher_internal:subscription_succeeded")
		want[fmt.Sprintf("channel_occupied cache-end-%d", n)] = 1
		want[fmt.Sprintf("cache_miss cache-end-%d", n)] = 1
	}
	run.waitUntil(t, hooks, 30*time.Second, "the markers", func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		for n := range nodes {
			if hooks.count[fmt.Sprintf("cache_miss cache-end-%d", n)] == 0 {
				return false
			}
		}
		return true
	})

	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if len(hooks.bad) > 0 {
		t.Errorf("%d webhook POSTs were not signed right, first: %s", len(hooks.bad), hooks.bad[0])
	}
	var wrong []string
	for k, n := range want {
		if hooks.count[k] != n {
			wrong = append(wrong, fmt.Sprintf("%s: %d times, want %d", k, hooks.count[k], n))
		}
	}
	for k, n := range hooks.count {
		if _, ok := want[k]; !ok {
			wrong = append(wrong, fmt.Sprintf("%s: %d times, want none", k, n))
		}
	}
	if bad := len(wrong); bad > 0 {
		sort.Strings(wrong)
		if bad > 20 {
			wrong = append(wrong[:20], fmt.Sprintf("... and %d more", len(wrong)-20))
		}
		t.Fatalf("%d of %d expected events wrong (leave-and-rejoin took %v of the %d ms delay):\n%s",
			bad, len(want), flapTook.Round(time.Millisecond), delayMs, strings.Join(wrong, "\n"))
	}
	for n, s := range nodes {
		w := webhookStats(t, s)
		if w.Dropped != 0 || w.Failed != 0 {
			t.Errorf("node %d /stats webhooks %+v: want none dropped or failed", n, w)
		}
	}
	t.Logf("%d webhook events in %d POSTs, each once, from %d nodes: joins confirmed after %v, leave-and-rejoin took %v (delay %d ms), all delivered after %v",
		hooks.events, hooks.posts, nodeCount, joined.Round(time.Millisecond), flapTook.Round(time.Millisecond), delayMs, delivered.Round(time.Millisecond))
}

type webhookCounts struct{ Sent, Retried, Failed, Dropped int64 }

func webhookStats(t *testing.T, s *server) webhookCounts {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct{ Webhooks webhookCounts }
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	return stats.Webhooks
}
