package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// clusterWebhookConfig is a cluster config whose app-1 sends every event to
// url, with a short removal delay so tests stay short.
func clusterWebhookConfig(r *redisServer, nodeTimeout int, url, extra string) string {
	apps := fmt.Sprintf(`[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"],"webhooks":[{"url":%q,"event_types":%s}]}]`, url, allHookEvents)
	return fmt.Sprintf(`{"expose_stats":true,"webhooks":{"delay_ms":400,"batch_ms":20,"retry_min_ms":50,"retry_max_ms":200%s},"apps":%s,"scaling":%s}`,
		extra, apps, scalingBlock(r, "resound", nodeTimeout))
}

// marker makes a cache miss on node s and waits for its webhook: every
// event caused before it, and held at most the delay before it, has been
// queued by then.
func marker(t *testing.T, r *hookReceiver, s *server, name string) []string {
	t.Helper()
	c := dial(t, s)
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "cache-" + name}})
	c.expect("pusher:cache_miss", "pusher_internal:subscription_succeeded")
	return r.waitFor("cache_miss cache-" + name)
}

// TestClusterWebhooksAUserLeavesWhenTheirLastSocketAnywhereDoes: a user with
// sockets on two nodes leaving one fires nothing; leaving the last fires
// member_removed once, then channel_vacated once, from one node of three.
func TestClusterWebhooksAUserLeavesWhenTheirLastSocketAnywhereDoes(t *testing.T) {
	r := startRedis(t)
	hooks := newHookReceiver(t)
	nodes := startCluster(t, 3, clusterWebhookConfig(r, 3, hooks.url, ""))
	a, b := dial(t, nodes[0]), dial(t, nodes[1])
	a.join("presence-team", `{"user_id":"u1"}`)
	b.join("presence-team", `{"user_id":"u1"}`)
	hooks.waitFor("member_added presence-team u1")
	a.conn.Close()
	// Past the delay, a leave would have been queued before this marker.
	time.Sleep(500 * time.Millisecond)
	got := marker(t, hooks, nodes[2], "one")
	want := []string{"channel_occupied presence-team", "member_added presence-team u1", "channel_occupied cache-one", "cache_miss cache-one"}
	if !sameEvents(got, want) {
		t.Fatalf("after u1 left node 0 but stayed on node 1:\n got %q\nwant %q", got, want)
	}
	b.conn.Close()
	hooks.waitFor("channel_vacated presence-team")
	time.Sleep(500 * time.Millisecond)
	got = marker(t, hooks, nodes[0], "two")
	want = append(want, "member_removed presence-team u1", "channel_vacated presence-team", "channel_occupied cache-two", "cache_miss cache-two")
	if !sameEvents(got, want) {
		t.Fatalf("after u1's last socket left:\n got %q\nwant %q", got, want)
	}
}

// TestClusterWebhooksKillNineVacatesOnce: kill -9 of the node holding a
// channel's last subscriber fires member_removed and channel_vacated once,
// from the reaper, within node_timeout plus the delay; a user with another
// socket on a live node is not removed.
func TestClusterWebhooksKillNineVacatesOnce(t *testing.T) {
	r := startRedis(t)
	hooks := newHookReceiver(t)
	const nodeTimeout = 2
	nodes := startCluster(t, 3, clusterWebhookConfig(r, nodeTimeout, hooks.url, ""))
	lone, shared, sharedLive := dial(t, nodes[2]), dial(t, nodes[2]), dial(t, nodes[0])
	lone.join("presence-doomed", `{"user_id":"lone"}`)
	shared.join("presence-lobby", `{"user_id":"both"}`)
	sharedLive.join("presence-lobby", `{"user_id":"both"}`)
	hooks.waitFor("member_added presence-lobby both")
	hooks.waitFor("member_added presence-doomed lone")
	killed := time.Now()
	nodes[2].kill9()
	hooks.waitFor("channel_vacated presence-doomed")
	took := time.Since(killed)
	// The reap (node_timeout), the delay, and, when the dead node was the
	// one sending, its lease running out (3 s); 4 s more for a busy machine.
	if bound := time.Duration(nodeTimeout)*time.Second + 400*time.Millisecond + 3*time.Second + 4*time.Second; took > bound {
		t.Fatalf("channel_vacated came %v after kill -9, over the bound %v", took, bound)
	}
	t.Logf("channel_vacated %v after kill -9 (node_timeout %d s, delay 400 ms)", took.Round(100*time.Millisecond), nodeTimeout)
	time.Sleep(500 * time.Millisecond)
	got := marker(t, hooks, nodes[1], "after")
	want := []string{"channel_occupied presence-doomed", "member_added presence-doomed lone",
		"channel_occupied presence-lobby", "member_added presence-lobby both",
		"member_removed presence-doomed lone", "channel_vacated presence-doomed",
		"channel_occupied cache-after", "cache_miss cache-after"}
	if !sameEvents(got, want) {
		t.Fatalf("after kill -9 of node 2:\n got %q\nwant %q", got, want)
	}
}

// TestClusterWebhooksABatchOfADeadNodeIsDelivered: a node that took a batch
// and died before the receiver took it leaves it queued in Redis; a node
// started afterwards claims and delivers it.
func TestClusterWebhooksABatchOfADeadNodeIsDelivered(t *testing.T) {
	r := startRedis(t)
	hooks := newHookReceiver(t)
	hooks.failing = true
	cfg := clusterWebhookConfig(r, 2, hooks.url, `,"timeout_ms":500,"claim_after_ms":1500`)
	first := startServer(t, cfg)
	c := dial(t, first)
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "cache-lost"}})
	c.expect("pusher:cache_miss", "pusher_internal:subscription_succeeded")
	deadline := time.Now().Add(15 * time.Second)
	for {
		hooks.mu.Lock()
		refused := hooks.refused
		hooks.mu.Unlock()
		if refused >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first node never tried to send")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.kill9()
	hooks.mu.Lock()
	hooks.failing = false
	hooks.mu.Unlock()
	second := startServer(t, cfg)
	// The second node also reaps the first, which vacates the channel.
	got := hooks.waitFor("channel_vacated cache-lost")
	if !sameEvents(got, []string{"channel_occupied cache-lost", "cache_miss cache-lost", "channel_vacated cache-lost"}) {
		t.Fatalf("the second node delivered %q", got)
	}
	_ = second.addr
}

// TestClusterWebhooksNoDuplicatesUnderConcurrentLeaves: sockets on three
// nodes join and then all leave the same presence channels at once; every
// channel is occupied and vacated exactly once, and every user added and
// removed exactly once per channel, though the leaves race in Redis.
func TestClusterWebhooksNoDuplicatesUnderConcurrentLeaves(t *testing.T) {
	r := startRedis(t)
	hooks := newHookReceiver(t)
	nodes := startCluster(t, 3, clusterWebhookConfig(r, 3, hooks.url, `,"batch_size":200`))
	const channels, sockets = 60, 6
	var clients []*client
	for i := range sockets {
		c := dial(t, nodes[i%3])
		user := fmt.Sprintf(`{"user_id":"u%d"}`, i%3) // each user has sockets on two nodes
		for k := range channels {
			ch := fmt.Sprintf("presence-load-%d", k)
			c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": ch, "auth": c.auth(ch, user), "channel_data": user}})
		}
		clients = append(clients, c)
	}
	for _, c := range clients {
		for range channels {
			c.expect("pusher_internal:subscription_succeeded", "pusher_internal:member_added", "pusher_internal:member_removed")
		}
	}
	for _, c := range clients {
		go c.conn.Close()
	}
	want := map[string]int{}
	for k := range channels {
		ch := fmt.Sprintf("presence-load-%d", k)
		want["channel_occupied "+ch], want["channel_vacated "+ch] = 1, 1
		for u := range 3 {
			want[fmt.Sprintf("member_added %s u%d", ch, u)] = 1
			want[fmt.Sprintf("member_removed %s u%d", ch, u)] = 1
		}
	}
	total := 0
	for _, n := range want {
		total += n
	}
	deadline := time.After(30 * time.Second)
	for len(hooks.seen()) < total {
		select {
		case <-hooks.arrived:
		case <-deadline:
			t.Fatalf("%d of %d webhook events arrived", len(hooks.seen()), total)
		}
	}
	time.Sleep(500 * time.Millisecond)
	got := marker(t, hooks, nodes[1], "end")
	count := map[string]int{}
	for _, s := range got {
		if !strings.HasPrefix(s, "cache_miss") && !strings.HasSuffix(s, "cache-end") {
			count[s]++
		}
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s: %d times, want %d", k, count[k], n)
		}
	}
	if len(count) != len(want) {
		t.Errorf("%d distinct events, want %d", len(count), len(want))
	}
	t.Logf("%d webhook events, each once, from 3 nodes", total)
}
