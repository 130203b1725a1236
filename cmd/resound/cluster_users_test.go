package main

import (
	"testing"
	"time"
)

// TestClusterUsersOnlineOfflineOnceAcrossNodes: a user is online while any
// socket of theirs is signed in on any node; watchers on every node hear
// each transition exactly once, events to a user reach all their tabs, a
// terminated user goes offline, and a killed node's users go offline once
// within the reap bound (while a user with a tab elsewhere stays online).
func TestClusterUsersOnlineOfflineOnceAcrossNodes(t *testing.T) {
	r := startRedis(t)
	const nodeTimeout = 2
	nodes := startCluster(t, 3, clusterConfig(r, "resound", nodeTimeout, defaultAppList))
	w0, w1 := dial(t, nodes[0]), dial(t, nodes[1])
	w0.signin(`{"id":"w0","watchlist":["a","b","c"]}`)
	w1.signin(`{"id":"w1","watchlist":["a","b","c"]}`)
	watchers := []*client{w0, w1}

	a := dial(t, nodes[1])
	a.signin(`{"id":"a"}`)
	for _, w := range watchers {
		w.expectWatch("online", "a")
	}

	// Two tabs of b sign in on two nodes at the same moment.
	b1, b2 := dial(t, nodes[1]), dial(t, nodes[2])
	ud := `{"id":"b"}`
	b1.signinWith(signinAuth(b1.socketID, ud), ud)
	b2.signinWith(signinAuth(b2.socketID, ud), ud)
	for _, b := range []*client{b1, b2} {
		b.expect("pusher:signin_success")
		b.subscribe("#server-to-user-b")
	}
	for _, w := range watchers {
		w.expectWatch("online", "b")
	}
	trigger(t, nodes[0], "#server-to-user-b", "to-b", "hello", "")
	for _, b := range []*client{b1, b2} {
		if m := b.expect("to-b"); m.dataString() != "hello" {
			t.Fatalf("to-b data %s", m.Data)
		}
	}

	// Terminated through node 2: a's socket on node 1 closes, a goes offline.
	if status, body := api(t, nodes[2], "POST", "/apps/"+appID+"/users/a/terminate_connections", nil, "{}"); status != 200 {
		t.Fatalf("terminate: %d %s", status, body)
	}
	if code := a.expectClose(); code != 4009 {
		t.Fatalf("a closed with %d", code)
	}
	for _, w := range watchers {
		w.expectWatch("offline", "a")
	}

	c := dial(t, nodes[2])
	c.signin(`{"id":"c"}`)
	for _, w := range watchers {
		w.expectWatch("online", "c")
	}
	killed := time.Now()
	nodes[2].kill9()
	limit := time.Duration(nodeTimeout)*time.Second + 3*time.Second
	for i, w := range watchers {
		m, ok := w.tryNext(time.Until(killed.Add(limit)))
		if !ok {
			t.Fatalf("watcher %d: no offline for c within %v of kill -9 (node_timeout %d s)", i, limit, nodeTimeout)
		}
		if got := watchEvent(t, m); got != "offline [c]" {
			t.Fatalf("watcher %d: after kill -9 got %s, want offline [c] (b still has a tab on node 1)", i, got)
		}
	}
	t.Logf("c offline %v after kill -9", time.Since(killed).Round(100*time.Millisecond))
	for i, w := range watchers {
		if got := w.collectFor(time.Second); len(got) > 0 {
			t.Fatalf("watcher %d: after the reap: %s", i, describe(got))
		}
	}
	b1.conn.Close()
	for _, w := range watchers {
		w.expectWatch("offline", "b")
	}
}

// TestClusterSubscriptionCountIsClusterWide: subscribers on two nodes both
// hear the cluster-wide count.
func TestClusterSubscriptionCountIsClusterWide(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 2, clusterConfig(r, "resound", 3, `[{"id":"app-1","key":"key-1","secret":"secret-1","subscription_count_events":true}]`))
	a, b := dial(t, nodes[0]), dial(t, nodes[1])
	a.subscribe("room")
	a.expectCount("room", 1)
	b.subscribe("room")
	a.expectCount("room", 2)
	b.expectCount("room", 2)
	b.conn.Close()
	a.expectCount("room", 1)
}

// TestClusterUsersRedisRestartedEmpty: while Redis is down a watched user
// signs out and another signs in on node 1; once Redis is back (empty) the
// watcher on node 0 hears each change once, and nothing about a user who
// stayed online throughout.
func TestClusterUsersRedisRestartedEmpty(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 2, clusterConfig(r, "resound", 3, defaultAppList))
	w := dial(t, nodes[0])
	w.signin(`{"id":"w","watchlist":["a","b","c"]}`)
	a, b := dial(t, nodes[1]), dial(t, nodes[1])
	a.signin(`{"id":"a"}`)
	w.expectWatch("online", "a")
	b.signin(`{"id":"b"}`)
	w.expectWatch("online", "b")

	r.stop()
	b.conn.Close()
	c := dial(t, nodes[1])
	c.signin(`{"id":"c"}`)
	r.start()

	got := map[string]int{}
	deadline := time.Now().Add(presenceBound + 3*time.Second)
	for got["offline [b]"] == 0 || got["online [c]"] == 0 {
		m, ok := w.tryNext(time.Until(deadline))
		if !ok {
			t.Fatalf("within %v of Redis returning, want offline [b] and online [c], got %v", presenceBound+3*time.Second, got)
		}
		got[watchEvent(t, m)]++
	}
	if more := w.collectFor(time.Second); len(more) > 0 || len(got) != 2 {
		t.Fatalf("after Redis returned: %v, then %s", got, describe(more))
	}
	// Still working: the next change is told once.
	c.conn.Close()
	w.expectWatch("offline", "c")
}

// TestClusterSubscriptionCountAfterANodeIsKilled: once a killed node's
// subscribers are reaped, the survivors' subscribers hear the lower count.
func TestClusterSubscriptionCountAfterANodeIsKilled(t *testing.T) {
	r := startRedis(t)
	const nodeTimeout = 2
	nodes := startCluster(t, 3, clusterConfig(r, "resound", nodeTimeout, `[{"id":"app-1","key":"key-1","secret":"secret-1","subscription_count_events":true}]`))
	subs := []*client{dial(t, nodes[0]), dial(t, nodes[1]), dial(t, nodes[2])}
	for i, c := range subs {
		c.subscribe("room")
		c.expectCount("room", i+1)
	}
	for _, c := range subs[:2] {
		c.expectCount("room", 3)
	}
	killed := time.Now()
	nodes[2].kill9()
	limit := time.Duration(nodeTimeout)*time.Second + 3*time.Second
	for i, c := range subs[:2] {
		m, ok := c.tryNext(time.Until(killed.Add(limit)))
		if !ok {
			t.Fatalf("subscriber %d: no subscription_count within %v of kill -9", i, limit)
		}
		if n := subscriptionCount(t, m); n != 2 {
			t.Fatalf("subscriber %d: count %d after kill -9, want 2", i, n)
		}
	}
}
