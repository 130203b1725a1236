package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// presenceBound is how long after Redis answers again every socket's
// member list matches the truth: a heartbeat notices (250 ms), the node
// registers its members again, waits the settle time (2 s) for every other
// node to have done the same, and tells its sockets the difference. 5 s
// leaves room for a busy machine.
const presenceBound = 5 * time.Second

// memberNews lists the member_added / member_removed in ms as "+id" / "-id".
func memberNews(t *testing.T, ms []message) []string {
	t.Helper()
	var out []string
	for _, m := range ms {
		switch m.Event {
		case "pusher_internal:member_added":
			out = append(out, "+"+memberID(t, m))
		case "pusher_internal:member_removed":
			out = append(out, "-"+memberID(t, m))
		}
	}
	return out
}

// TestClusterChannelInfoCountsASubscriberAtOnce: once a socket has its
// subscription_succeeded on node 2, node 0's HTTP API counts it, with no
// wait in between.
func TestClusterChannelInfoCountsASubscriberAtOnce(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 5, defaultAppList))
	for k := range 10 {
		ch := fmt.Sprintf("room-%d", k)
		c := dial(t, nodes[1+k%2])
		c.subscribe(ch)
		out, body, err := getJSON(app1, nodes[0], "/apps/app-1/channels/"+ch, map[string]string{"info": "subscription_count"})
		if err != nil || out["occupied"] != true || out["subscription_count"] != float64(1) {
			t.Fatalf("round %d: right after subscription_succeeded on node %d, node 0 answers %s %v", k, 1+k%2, body, err)
		}
		list, body, err := getJSON(app1, nodes[0], "/apps/app-1/channels", map[string]string{"filter_by_prefix": "room-"})
		chans, _ := list["channels"].(map[string]any)
		if err != nil || len(chans) != k+1 || chans[ch] == nil {
			t.Fatalf("round %d: GET /channels on node 0 misses %s: %s %v", k, ch, body, err)
		}
	}
	p := dial(t, nodes[2])
	p.join("presence-now", `{"user_id":"u1"}`)
	out, body, err := getJSON(app1, nodes[0], "/apps/app-1/channels/presence-now", map[string]string{"info": "subscription_count,user_count"})
	if err != nil || out["user_count"] != float64(1) || out["subscription_count"] != float64(1) {
		t.Fatalf("right after joining on node 2, node 0 answers %s %v", body, err)
	}
	if ids, body, err := usersOf(app1, nodes[0], "presence-now"); err != nil || !sameStrings(ids, []string{"u1"}) {
		t.Fatalf("users via node 0: %s %v", body, err)
	}
	// Unsubscribing is counted down too (no confirmation comes back, so wait).
	p.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-now"}}`)
	eventually(t, 5*time.Second, "presence-now unoccupied via node 1", func() (bool, string) {
		out, body, err := getJSON(app1, nodes[1], "/apps/app-1/channels/presence-now", nil)
		return err == nil && out["occupied"] == false, fmt.Sprint(body, err)
	})
	// No periodic snapshots: nothing but liveness writes while idle.
	keys := r.list(0, "KEYS", "resound:app-1:node:*:channels")
	if len(keys) != 0 {
		t.Fatalf("per-node channel snapshots are still written: %v", keys)
	}
}

// TestClusterPresenceRedisRestartedEmptyTellsNothingTwice: members sit on
// every node; Redis restarts with no data. No socket hears a member_added
// (or member_removed) for a member it already has, and the lists match the
// truth within presenceBound.
func TestClusterPresenceRedisRestartedEmptyTellsNothingTwice(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "presence-restart"
	var members []*client
	var want []string
	for i, n := range nodes {
		for j := range 2 {
			c := dial(t, n)
			uid := fmt.Sprintf("n%d-u%d", i, j)
			c.join(ch, fmt.Sprintf(`{"user_id":%q}`, uid))
			members = append(members, c)
			want = append(want, uid)
		}
	}
	sort.Strings(want)
	eventually(t, 5*time.Second, "6 members via node 0", func() (bool, string) {
		ids, body, err := usersOf(app1, nodes[0], ch)
		return err == nil && sameStrings(ids, want), fmt.Sprint(body, err)
	})
	collectAll(500*time.Millisecond, members...) // the set-up's member_added

	r.stop()
	time.Sleep(time.Second)
	r.start()
	back := time.Now()
	got := collectAll(0, members...)
	for time.Since(back) < presenceBound+2*time.Second {
		more := collectAll(200*time.Millisecond, members...)
		for i := range got {
			got[i] = append(got[i], more[i]...)
		}
	}
	for i, ms := range got {
		if news := memberNews(t, ms); len(news) != 0 {
			t.Fatalf("member %d (node %d) heard %v after Redis restarted empty; nobody joined or left", i, i/2, news)
		}
	}
	for i, n := range nodes {
		if ids, body, err := usersOf(app1, n, ch); err != nil || !sameStrings(ids, want) {
			t.Fatalf("node %d lists %s %v after the restart, want %v", i, body, err, want)
		}
	}
	// The cluster still works: a newcomer is announced once everywhere.
	late := dial(t, nodes[1])
	late.join(ch, `{"user_id":"late"}`)
	for i, c := range members {
		if m := c.expect("pusher_internal:member_added"); memberID(t, m) != "late" {
			t.Fatalf("member %d: %s", i, m.Data)
		}
	}
}

// TestClusterPresenceChangesDuringAnOutageAreToldOnce: with Redis stopped
// (SIGSTOP), a user joins on node 1 and another leaves on node 2. After
// Redis returns, every socket on every node hears each exactly once.
func TestClusterPresenceChangesDuringAnOutageAreToldOnce(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "presence-outage"
	obs := make([]*client, 3)
	for i, n := range nodes {
		obs[i] = dial(t, n)
		obs[i].join(ch, fmt.Sprintf(`{"user_id":"obs%d"}`, i))
	}
	leaver := dial(t, nodes[2])
	leaver.join(ch, `{"user_id":"leaver"}`)
	eventually(t, 5*time.Second, "4 members via node 0", func() (bool, string) {
		ids, body, err := usersOf(app1, nodes[0], ch)
		return err == nil && sameStrings(ids, []string{"leaver", "obs0", "obs1", "obs2"}), fmt.Sprint(body, err)
	})
	collectAll(500*time.Millisecond, obs...)

	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	joiner := dial(t, nodes[1])
	joiner.join(ch, `{"user_id":"joiner"}`) // confirmed from node 1's own view
	leaver.conn.Close()
	time.Sleep(4 * time.Second) // longer than node_timeout: nobody may be reaped for it
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	resumed := time.Now()
	got := collectAll(0, obs...)
	for time.Since(resumed) < presenceBound+2*time.Second {
		more := collectAll(200*time.Millisecond, obs...)
		for i := range got {
			got[i] = append(got[i], more[i]...)
		}
	}
	for i, ms := range got {
		news := memberNews(t, ms)
		sort.Strings(news)
		if strings.Join(news, " ") != "+joiner -leaver" {
			t.Fatalf("obs%d (node %d) heard %v; want +joiner and -leaver once each", i, i, news)
		}
	}
	want := []string{"joiner", "obs0", "obs1", "obs2"}
	for i, n := range nodes {
		if ids, body, err := usersOf(app1, n, ch); err != nil || !sameStrings(ids, want) {
			t.Fatalf("node %d lists %s %v, want %v", i, body, err, want)
		}
	}
	if news := memberNews(t, joiner.drain(300*time.Millisecond)); len(news) != 1 || news[0] != "-leaver" {
		t.Fatalf("the joiner (its list from node 1 during the outage) heard %v; want -leaver only", news)
	}
}

// TestClusterClockSkewDoesNotReapAHealthyNode: node 2's clock is an hour
// ahead and node 1's an hour behind; liveness runs on Redis's clock, so no
// node is taken for dead and nobody leaves.
func TestClusterClockSkewDoesNotReapAHealthyNode(t *testing.T) {
	r := startRedis(t)
	const nodeTimeout = 1
	config := clusterConfig(r, "resound", nodeTimeout, defaultAppList)
	nodes := []*server{
		startServer(t, config),
		startServerEnv(t, config, []string{"RESOUND_TEST_CLOCK_SKEW=-1h"}),
		startServerEnv(t, config, []string{"RESOUND_TEST_CLOCK_SKEW=1h"}),
	}
	const ch = "presence-skew"
	var members []*client
	for i, n := range nodes {
		c := dial(t, n)
		c.join(ch, fmt.Sprintf(`{"user_id":"u%d"}`, i))
		members = append(members, c)
	}
	collectAll(500*time.Millisecond, members...)
	got := collectAll(time.Duration(4*nodeTimeout)*time.Second, members...)
	for i, ms := range got {
		if news := memberNews(t, ms); len(news) != 0 {
			t.Fatalf("u%d heard %v while every node was healthy", i, news)
		}
	}
	for i, n := range nodes {
		if ids, body, err := usersOf(app1, n, ch); err != nil || !sameStrings(ids, []string{"u0", "u1", "u2"}) {
			t.Fatalf("node %d lists %s %v", i, body, err)
		}
		if strings.Contains(n.logs.String(), "missed its heartbeats") {
			t.Fatalf("node %d reaped a healthy node:\n%s", i, n.logs.String())
		}
	}
}

// TestClusterPresenceJoinStorm measures how long RESOUND_JOIN_STORM presence
// sockets, already connected to node 0 of a 3-node cluster (as after a node
// restart, when its clients reconnect), wait for their last
// subscription_succeeded. It is a measurement, skipped unless the variable
// is set:
//
// RESOUND_JOIN_STORM_ROOMS spreads them over that many channels (100).
//
//	RESOUND_JOIN_STORM=5000 flock /tmp/resound-heavy.lock go test -count=1 -run TestClusterPresenceJoinStorm -v ./cmd/resound
func TestClusterPresenceJoinStorm(t *testing.T) {
	var n int
	if _, err := fmt.Sscan(os.Getenv("RESOUND_JOIN_STORM"), &n); err != nil || n <= 0 {
		t.Skip("set RESOUND_JOIN_STORM=N to measure N presence joins")
	}
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 10,
		`[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"],"max_presence_members_per_channel":-1}]`))
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, nodes[0])
	}
	rooms := 100
	if v, err := fmt.Sscan(os.Getenv("RESOUND_JOIN_STORM_ROOMS"), &rooms); v == 0 || err != nil || rooms <= 0 {
		rooms = 100
	}
	start := time.Now()
	for i, c := range clients {
		ch := fmt.Sprintf("presence-storm-%d", i%rooms)
		data := fmt.Sprintf(`{"user_id":"u%d"}`, i)
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": ch, "auth": c.auth(ch, data), "channel_data": data}})
	}
	sent := time.Since(start)
	for _, c := range clients {
		for {
			m := c.next(30 * time.Second)
			if m.Event == "pusher_internal:subscription_succeeded" {
				break
			}
		}
	}
	t.Logf("%d presence joins (%d channels) on node 0 of 3: all sent in %v, last subscription_succeeded after %v",
		n, rooms, sent.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
