package main

// Cluster tests of the event path: "200 means delivered" under a
// round-robin publisher, a hung Redis and a Redis restarted empty, and
// cache channels that keep only published events.

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// publishOutcome is how the HTTP API answered one publish.
type publishOutcome struct {
	status   int // 0: no answer (transport error)
	answered time.Time
}

// eventLedger records every publish of a test by id ("p<publisher>-<seq>").
type eventLedger struct {
	mu       sync.Mutex
	outcomes map[string]publishOutcome
	order    map[int][]string // ids per publisher, in publish order
}

func newEventLedger() *eventLedger {
	return &eventLedger{outcomes: map[string]publishOutcome{}, order: map[int][]string{}}
}

func (l *eventLedger) record(publisher int, id string, status int) {
	l.mu.Lock()
	l.outcomes[id] = publishOutcome{status, time.Now()}
	l.order[publisher] = append(l.order[publisher], id)
	l.mu.Unlock()
}

func publishID(id, ch string, n *server) (int, string) {
	status, body, err := apiTry(app1, n, "POST", "/apps/app-1/events", nil, fmt.Sprintf(`{"name":"e","channel":%q,"data":%q}`, ch, id))
	if err != nil {
		return 0, err.Error()
	}
	return status, body
}

// checkDelivery reads a subscriber until every event answered 200 arrived,
// then checks: each exactly once, none answered 503, each publisher's
// events in its order. mayMiss lists 200 events that may be missing.
func checkDelivery(t *testing.T, name string, c *client, ch string, l *eventLedger, mayMiss map[string]bool) (got, unconfirmed int) {
	t.Helper()
	l.mu.Lock()
	want := map[string]bool{}
	for id, o := range l.outcomes {
		if o.status == 200 && !mayMiss[id] {
			want[id] = true
		}
	}
	l.mu.Unlock()
	seen := map[string]int{}
	var order []string
	deadline := time.Now().Add(30 * time.Second)
	missing := len(want)
	for missing > 0 {
		m, ok := c.tryNext(time.Until(deadline))
		if !ok {
			var lost []string
			for id := range want {
				if seen[id] == 0 {
					lost = append(lost, id)
				}
			}
			t.Fatalf("%s: %d events answered 200 never arrived within 30 s: %v", name, len(lost), lost[:min(len(lost), 20)])
		}
		if m.Event != "e" || m.Channel != ch {
			continue
		}
		id := m.dataString()
		seen[id]++
		order = append(order, id)
		if want[id] && seen[id] == 1 {
			missing--
		}
	}
	for _, m := range c.collectFor(time.Second) {
		if m.Event == "e" && m.Channel == ch {
			seen[m.dataString()]++
			order = append(order, m.dataString())
		}
	}
	if len(mayMiss) > 0 {
		missed := 0
		for id := range mayMiss {
			if seen[id] == 0 {
				missed++
			}
		}
		t.Logf("%s: %d of the %d events answered 200 around the kill are missing", name, missed, len(mayMiss))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, n := range seen {
		o, known := l.outcomes[id]
		switch {
		case n > 1:
			t.Errorf("%s: event %s delivered %d times", name, id, n)
		case !known:
			t.Errorf("%s: event %s was never published", name, id)
		case o.status == 503:
			t.Errorf("%s: event %s was answered 503 but delivered", name, id)
		case o.status == 504:
			// Not confirmed: delivered at most once (checked above).
			unconfirmed++
		case o.status != 200 && o.status != 0:
			t.Errorf("%s: event %s answered %d but delivered", name, id, o.status)
		}
	}
	// Each publisher waited for every answer: its events keep its order.
	pos := map[string]int{}
	for i, id := range order {
		if _, dup := pos[id]; !dup {
			pos[id] = i
		}
	}
	for p, ids := range l.order {
		last, lastID := -1, ""
		for _, id := range ids {
			if i, ok := pos[id]; ok {
				if i < last {
					t.Errorf("%s: publisher %d's %s arrived before its earlier %s", name, p, id, lastID)
				}
				last, lastID = i, id
			}
		}
	}
	return len(seen), unconfirmed
}

// 2. A sequential publisher whose requests go round-robin over the nodes
// (as behind a load balancer) keeps its order exactly, on every node.
func TestClusterRoundRobinPublisherKeepsItsOrder(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "sequence"
	subs := subscribeOnEach(t, nodes, ch, 2)
	const total = 300
	for i := 0; i < total; i++ {
		trigger(t, nodes[i%3], ch, "seq", strconv.Itoa(i), "")
	}
	for si, c := range subs {
		for want := 0; want < total; want++ {
			m := c.next(15 * time.Second)
			if m.Event != "seq" || m.dataString() != strconv.Itoa(want) {
				t.Fatalf("subscriber %d on node %d: event %d of the sequence is %s %s: the order is not kept", si, si/2, want, m.Event, m.Data)
			}
		}
		if extra := c.collectFor(300 * time.Millisecond); len(extra) > 0 {
			t.Fatalf("subscriber %d: more than the sequence: %s", si, describe(extra))
		}
	}
}

// loadPublishers runs per node `per` sequential publishers (each waits for
// every answer) until stop is closed, recording every outcome.
func loadPublishers(nodes []*server, per int, ch string, pace time.Duration, l *eventLedger, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for ni, n := range nodes {
		for k := 0; k < per; k++ {
			p := ni*per + k
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := 0; ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("p%d-%d", p, seq)
					status, _ := publishID(id, ch, n)
					l.record(p, id, status)
					time.Sleep(pace)
				}
			}()
		}
	}
	return &wg
}

func (l *eventLedger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	by := map[int]int{}
	for _, o := range l.outcomes {
		by[o.status]++
	}
	return fmt.Sprintf("%d published, by answer (0 = none): %v", len(l.outcomes), by)
}

// 3. Redis hangs (SIGSTOP) under load: every event answered 200 reaches
// every subscriber once, in order; every event answered 503 reaches nobody.
// An event answered 504 (not confirmed) reaches everyone once or nobody:
// only a publish Redis ran just before it stopped, or whose answer came
// back late just after it resumed, can be delivered, so there are at most
// two per publisher; the deadline guard drops everything else that waited
// in Redis's socket buffers.
func TestClusterHungRedisUnderLoadLosesNothingAnswered200(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 30, defaultAppList))
	const ch = "ledger"
	subs := subscribeOnEach(t, nodes, ch, 2)
	l := newEventLedger()
	stop := make(chan struct{})
	wg := loadPublishers(nodes, 2, ch, 10*time.Millisecond, l, stop)
	time.Sleep(time.Second)
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%s", l.summary())
	l.mu.Lock()
	failed := 0
	for _, o := range l.outcomes {
		if o.status == 503 || o.status == 504 {
			failed++
		}
	}
	l.mu.Unlock()
	if failed == 0 {
		t.Fatalf("no publish was refused while Redis hung for 6 s: the test did not test the outage (%s)", l.summary())
	}
	const publishers = 3 * 2
	for i, c := range subs {
		got, unconfirmed := checkDelivery(t, fmt.Sprintf("subscriber %d on node %d", i, i/2), c, ch, l, nil)
		t.Logf("subscriber %d received %d distinct events, %d of them answered 504", i, got, unconfirmed)
		if unconfirmed > 2*publishers {
			t.Errorf("subscriber %d received %d events answered 504: the deadline guard lets through more than the few in flight at the stall and the resume", i, unconfirmed)
		}
	}
	for i, n := range nodes {
		if lines := strings.Count(n.logs.String(), "\n"); lines > 200 {
			t.Errorf("node %d logged %d lines during a 6 s outage: logging is not rate-limited", i, lines)
		}
	}
}

// 3b. Redis is killed and restarted empty under load. Events answered 200
// reach every subscriber once, in order; 503s reach nobody. The one window
// left: an event Redis took in the last moment before it died may not have
// been read by every node yet (Redis lost it with everything else); such
// events (answered within 100 ms of the kill) may be missing, never
// duplicated, never out of order.
func TestClusterRedisRestartedEmptyUnderLoadLosesNothingAnswered200(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 30, defaultAppList))
	const ch = "ledger"
	subs := subscribeOnEach(t, nodes, ch, 1)
	l := newEventLedger()
	stop := make(chan struct{})
	wg := loadPublishers(nodes, 2, ch, 10*time.Millisecond, l, stop)
	time.Sleep(time.Second)
	r.kill()
	killed := time.Now()
	time.Sleep(2 * time.Second)
	r.start()
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%s", l.summary())
	mayMiss := map[string]bool{}
	l.mu.Lock()
	for id, o := range l.outcomes {
		if o.status == 200 && o.answered.After(killed.Add(-100*time.Millisecond)) && o.answered.Before(killed.Add(100*time.Millisecond)) {
			mayMiss[id] = true
		}
	}
	after := 0
	for _, o := range l.outcomes {
		if o.status == 200 && o.answered.After(killed.Add(2*time.Second)) {
			after++
		}
	}
	l.mu.Unlock()
	if after == 0 {
		t.Fatalf("no publish succeeded after Redis restarted: %s", l.summary())
	}
	t.Logf("%d events answered 200 within 100 ms of the kill may be missing", len(mayMiss))
	for i, c := range subs {
		checkDelivery(t, fmt.Sprintf("subscriber on node %d", i), c, ch, l, mayMiss)
	}
}

// 1. A presence-cache- channel replays the last published event, never
// presence news, on every node and in info=cache; private-encrypted-cache-
// channels replay too.
func TestClusterPresenceCacheReplaysPublishedEventsOnly(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "presence-cache-room"
	a := dial(t, nodes[0])
	a.join(ch, `{"user_id":"a"}`)
	a.expect("pusher:cache_miss")
	trigger(t, nodes[1], ch, "score", "1", "")
	if m := a.expect("score"); m.dataString() != "1" {
		t.Fatalf("live: %s", m.Data)
	}
	// Members joining on other nodes: presence news over the bus.
	b := dial(t, nodes[1])
	b.join(ch, `{"user_id":"b"}`)
	c := dial(t, nodes[2])
	c.join(ch, `{"user_id":"c"}`)
	a.expect("pusher_internal:member_added")
	a.expect("pusher_internal:member_added")
	for i, n := range nodes {
		late := dial(t, n)
		late.join(ch, fmt.Sprintf(`{"user_id":"late%d"}`, i))
		m := late.next(5 * time.Second)
		if m.Event != "score" || m.dataString() != "1" {
			t.Fatalf("late member on node %d: want the published event replayed, got %s: %s", i, m.Event, m.Data)
		}
		out, body, err := getJSON(app1, n, "/apps/app-1/channels/"+ch, map[string]string{"info": "cache"})
		if err != nil || !strings.Contains(body, `score`) || strings.Contains(body, "member_") {
			t.Fatalf("node %d info=cache: %v %s %v", i, out, body, err)
		}
	}

	const enc = "private-encrypted-cache-vault"
	trigger(t, nodes[0], enc, "sealed", "ciphertext", "")
	for i, n := range nodes {
		s := dial(t, n)
		s.subscribe(enc)
		if m := s.next(5 * time.Second); m.Event != "sealed" || m.dataString() != "ciphertext" {
			t.Fatalf("node %d: private-encrypted-cache- want the last event replayed, got %s: %s", i, m.Event, m.Data)
		}
	}
}

// subscribeOnEach opens per sockets on every node, each subscribed to ch;
// subscriber i is on node i/per.
func subscribeOnEach(t *testing.T, nodes []*server, ch string, per int) []*client {
	t.Helper()
	var subs []*client
	for _, n := range nodes {
		for k := 0; k < per; k++ {
			c := dial(t, n)
			c.subscribe(ch)
			subs = append(subs, c)
		}
	}
	return subs
}
