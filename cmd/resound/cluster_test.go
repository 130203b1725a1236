package main

// Horizontal scaling over Redis (issue 5): several real resound processes
// share one real redis-server, and clients are spread over the nodes. Every
// test asserts on what the sockets received or what the HTTP API answered.
//
// HTTP query answers may lag a change by up to ~1 s, so queries are polled
// with a timeout. Cross-node WebSocket deliveries are read with a timeout.
//
// The tests skip without redis-server unless RESOUND_REQUIRE_REDIS is set.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// collectFor returns every message arriving within d (it always waits d).
func (c *client) collectFor(d time.Duration) []message {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var out []message
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return out
		}
		m, ok := c.tryNext(left)
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

func describe(ms []message) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%s@%s %s", m.Event, m.Channel, m.Data)
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// 1. events: every socket on every node, exactly once, in one order

func TestClusterEventsReachEveryNodeExactlyOnceInOneOrder(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "orders"
	type sub struct {
		c    *client
		node int
	}
	var subs []sub
	for i, n := range nodes {
		for k := 0; k < 2; k++ {
			c := dial(t, n)
			c.subscribe(ch)
			subs = append(subs, sub{c, i})
		}
	}
	// Subscriptions must be known cluster-wide before publishing.
	for _, n := range nodes {
		eventually(t, 5*time.Second, "6 subscribers counted from "+n.addr, func() (bool, string) {
			out, body, err := getJSON(app1, n, "/apps/app-1/channels/"+ch, map[string]string{"info": "subscription_count"})
			return err == nil && out["subscription_count"] == float64(6), fmt.Sprint(body, err)
		})
	}

	const total = 200
	for i := 0; i < total; i++ {
		trigger(t, nodes[i%3], ch, "seq", strconv.Itoa(i), "")
	}
	var first []int
	for si, s := range subs {
		got := make([]int, 0, total)
		seen := map[int]bool{}
		deadline := time.Now().Add(15 * time.Second)
		for len(got) < total {
			m, ok := s.c.tryNext(time.Until(deadline))
			if !ok {
				var missing []int
				for i := 0; i < total; i++ {
					if !seen[i] {
						missing = append(missing, i)
					}
				}
				t.Fatalf("subscriber %d on node %d received %d of %d events within 15 s; missing %v", si, s.node, len(got), total, missing)
			}
			if m.Event != "seq" || m.Channel != ch {
				t.Fatalf("subscriber %d on node %d: unexpected %s on %q: %s", si, s.node, m.Event, m.Channel, m.Data)
			}
			n, err := strconv.Atoi(m.dataString())
			if err != nil || n < 0 || n >= total {
				t.Fatalf("subscriber %d: bad data %s", si, m.Data)
			}
			if seen[n] {
				t.Fatalf("subscriber %d on node %d received event %d twice (after %v)", si, s.node, n, got)
			}
			seen[n] = true
			got = append(got, n)
		}
		if extra := s.c.collectFor(500 * time.Millisecond); len(extra) > 0 {
			t.Fatalf("subscriber %d on node %d received more after all %d: %s", si, s.node, total, describe(extra))
		}
		// Events published through one node keep their order.
		last := [3]int{-1, -1, -1}
		for _, n := range got {
			if n < last[n%3] {
				t.Fatalf("subscriber %d on node %d: event %d (published via node %d) arrived after %d from the same node: %v", si, s.node, n, n%3, last[n%3], got)
			}
			last[n%3] = n
		}
		if first == nil {
			first = got
			continue
		}
		for i := range got {
			if got[i] != first[i] {
				t.Fatalf("subscriber %d on node %d saw a different order than subscriber 0 on node %d from position %d:\n got   %v\n first %v",
					si, s.node, subs[0].node, i, got[i:min(i+10, total)], first[i:min(i+10, total)])
			}
		}
	}
	for i := range first {
		if first[i] != i {
			t.Logf("note: the common delivery order differs from the HTTP call order (allowed) from position %d: %v", i, first[i:min(i+10, total)])
			break
		}
	}
}

func TestClusterSocketIDExclusionAcrossNodes(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	x, y := dial(t, nodes[1]), dial(t, nodes[1])
	z, w := dial(t, nodes[0]), dial(t, nodes[2])
	all := []*client{x, y, z, w}
	for _, c := range all {
		c.subscribe("news")
	}
	eventually(t, 5*time.Second, "4 subscribers counted", func() (bool, string) {
		out, body, err := getJSON(app1, nodes[0], "/apps/app-1/channels/news", map[string]string{"info": "subscription_count"})
		return err == nil && out["subscription_count"] == float64(4), fmt.Sprint(body, err)
	})

	// Published on node 0, excluding a socket on node 1.
	trigger(t, nodes[0], "news", "x-excluded", "1", x.socketID)
	for _, c := range []*client{y, z, w} {
		if m := c.expect("x-excluded"); m.dataString() != "1" {
			t.Fatalf("got %s", m.Data)
		}
	}
	if got := x.collectFor(time.Second); len(got) > 0 {
		t.Fatalf("socket %s on node 1 was excluded by socket_id via node 0 but received %s", x.socketID, describe(got))
	}
	// Published on node 2, excluding a socket on node 0.
	trigger(t, nodes[2], "news", "z-excluded", "2", z.socketID)
	for _, c := range []*client{x, y, w} {
		c.expect("z-excluded")
	}
	if got := z.collectFor(time.Second); len(got) > 0 {
		t.Fatalf("socket %s on node 0 was excluded via node 2 but received %s", z.socketID, describe(got))
	}
	// The same through batch_events on node 1, excluding a socket on node 2.
	body := fmt.Sprintf(`{"batch":[{"name":"w-excluded","channel":"news","data":"3","socket_id":%q}]}`, w.socketID)
	if status, resp, err := apiTry(app1, nodes[1], "POST", "/apps/app-1/batch_events", nil, body); err != nil || status != 200 {
		t.Fatalf("batch: %d %s %v", status, resp, err)
	}
	for _, c := range []*client{x, y, z} {
		c.expect("w-excluded")
	}
	if got := w.collectFor(time.Second); len(got) > 0 {
		t.Fatalf("socket %s on node 2 was excluded (batch via node 1) but received %s", w.socketID, describe(got))
	}
	// Without socket_id everybody gets it once.
	trigger(t, nodes[1], "news", "everyone", "4", "")
	for _, c := range all {
		c.expect("everyone")
		if extra := c.collectFor(300 * time.Millisecond); len(extra) > 0 {
			t.Fatalf("duplicate delivery: %s", describe(extra))
		}
	}
}

func TestClusterClientEventsAcrossNodes(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))

	// private channel: a (node 0) whispers to b (node 1), c (node 2), d (node 0)
	a, b, c, d := dial(t, nodes[0]), dial(t, nodes[1]), dial(t, nodes[2]), dial(t, nodes[0])
	for _, s := range []*client{a, b, c, d} {
		s.subscribe("private-chat")
	}
	eventually(t, 5*time.Second, "4 subscribers of private-chat", func() (bool, string) {
		out, body, err := getJSON(app1, nodes[1], "/apps/app-1/channels/private-chat", map[string]string{"info": "subscription_count"})
		return err == nil && out["subscription_count"] == float64(4), fmt.Sprint(body, err)
	})
	const n = 8 // under the default 10 whispers per second
	for i := 0; i < n; i++ {
		a.send(fmt.Sprintf(`{"event":"client-typing","channel":"private-chat","data":{"n":%d}}`, i))
	}
	for name, s := range map[string]*client{"b (node 1)": b, "c (node 2)": c, "d (node 0)": d} {
		for i := 0; i < n; i++ {
			m := s.next(5 * time.Second)
			if m.Event != "client-typing" || m.Channel != "private-chat" || string(m.Data) != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("%s: whisper %d: got %s on %q data %s", name, i, m.Event, m.Channel, m.Data)
			}
			if len(m.UserID) != 0 {
				t.Fatalf("%s: user_id on a private channel whisper: %s", name, m.UserID)
			}
		}
		if extra := s.collectFor(500 * time.Millisecond); len(extra) > 0 {
			t.Fatalf("%s: more than %d whispers: %s", name, n, describe(extra))
		}
	}
	if echoed := a.collectFor(500 * time.Millisecond); len(echoed) > 0 {
		t.Fatalf("the sender got its own whisper back through the cluster: %s", describe(echoed))
	}

	// presence channel: user_id is added, whatever node the receiver is on
	p0, p1, p2 := dial(t, nodes[0]), dial(t, nodes[1]), dial(t, nodes[2])
	p0.join("presence-chat", `{"user_id":"u0"}`)
	p1.join("presence-chat", `{"user_id":"u1"}`)
	p0.expect("pusher_internal:member_added")
	p2.join("presence-chat", `{"user_id":"u2"}`)
	p0.expect("pusher_internal:member_added")
	p1.expect("pusher_internal:member_added")
	p1.send(`{"event":"client-hi","channel":"presence-chat","data":{"hi":1}}`)
	for name, s := range map[string]*client{"u0 (node 0)": p0, "u2 (node 2)": p2} {
		m := s.expect("client-hi")
		if string(m.Data) != `{"hi":1}` || string(m.UserID) != `"u1"` {
			t.Fatalf("%s: whisper data %s user_id %s, want {\"hi\":1} and \"u1\"", name, m.Data, m.UserID)
		}
		if extra := s.collectFor(300 * time.Millisecond); len(extra) > 0 {
			t.Fatalf("%s: unexpected %s", name, describe(extra))
		}
	}
	if echoed := p1.collectFor(500 * time.Millisecond); len(echoed) > 0 {
		t.Fatalf("presence whisper echoed to its sender: %s", describe(echoed))
	}
}

// ---------------------------------------------------------------------------
// 2. presence is cluster-wide

func TestClusterPresenceMembersAcrossNodes(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "presence-room"
	usersEverywhere := func(want ...string) {
		t.Helper()
		sort.Strings(want)
		for i, n := range nodes {
			eventually(t, 5*time.Second, fmt.Sprintf("users %v via node %d", want, i), func() (bool, string) {
				ids, body, err := usersOf(app1, n, ch)
				return err == nil && sameStrings(ids, want), fmt.Sprint(body, err)
			})
		}
	}

	alice1 := dial(t, nodes[0])
	if count, ids, _ := presenceData(t, alice1.join(ch, `{"user_id":"alice","user_info":{"name":"Alice"}}`)); count != 1 || !sameStrings(ids, []string{"alice"}) {
		t.Fatalf("first member: count %d ids %v", count, ids)
	}
	usersEverywhere("alice")

	bob := dial(t, nodes[1])
	count, ids, hash := presenceData(t, bob.join(ch, `{"user_id":"bob","user_info":{"name":"Bob"}}`))
	if count != 2 || !sameStrings(ids, []string{"alice", "bob"}) {
		t.Fatalf("bob on node 1: subscription_succeeded count %d ids %v, want 2 [alice bob] (alice is on node 0)", count, ids)
	}
	if info, _ := hash["alice"].(map[string]any); info == nil || info["name"] != "Alice" {
		t.Fatalf("bob on node 1: hash %v lacks alice's user_info", hash)
	}
	m := alice1.expect("pusher_internal:member_added")
	if d := m.dataObject(t); d["user_id"] != "bob" || d["user_info"].(map[string]any)["name"] != "Bob" {
		t.Fatalf("alice on node 0: member_added %s", m.Data)
	}

	carol := dial(t, nodes[2])
	if count, ids, _ := presenceData(t, carol.join(ch, `{"user_id":"carol","user_info":{"name":"Carol"}}`)); count != 3 || !sameStrings(ids, []string{"alice", "bob", "carol"}) {
		t.Fatalf("carol on node 2: count %d ids %v", count, ids)
	}
	for name, c := range map[string]*client{"alice (node 0)": alice1, "bob (node 1)": bob} {
		m := c.expect("pusher_internal:member_added")
		if memberID(t, m) != "carol" {
			t.Fatalf("%s: %s", name, m.Data)
		}
	}
	if got := carol.collectFor(500 * time.Millisecond); len(got) > 0 {
		t.Fatalf("carol got events about herself: %s", describe(got))
	}
	usersEverywhere("alice", "bob", "carol")

	// Alice's second tab, on another node: one member, no member_added anywhere.
	alice2 := dial(t, nodes[1])
	if count, ids, _ := presenceData(t, alice2.join(ch, `{"user_id":"alice","user_info":{"name":"Alice"}}`)); count != 3 || !sameStrings(ids, []string{"alice", "bob", "carol"}) {
		t.Fatalf("alice's second tab (node 1): count %d ids %v, want 3 unique users", count, ids)
	}
	for name, c := range map[string]*client{"alice tab 1 (node 0)": alice1, "bob (node 1)": bob, "carol (node 2)": carol} {
		if got := c.collectFor(time.Second); len(got) > 0 {
			t.Fatalf("%s: a second tab of alice on node 1 caused %s", name, describe(got))
		}
	}
	for i, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("user_count 3 and subscription_count 4 via node %d", i), func() (bool, string) {
			out, body, err := getJSON(app1, n, "/apps/app-1/channels/"+ch, map[string]string{"info": "user_count,subscription_count"})
			return err == nil && out["occupied"] == true && out["user_count"] == float64(3) && out["subscription_count"] == float64(4), fmt.Sprint(body, err)
		})
	}

	// Alice's first tab (node 0) closes: she is still here (node 1).
	alice1.conn.Close()
	for name, c := range map[string]*client{"alice tab 2 (node 1)": alice2, "bob (node 1)": bob, "carol (node 2)": carol} {
		if got := c.collectFor(1500 * time.Millisecond); len(got) > 0 {
			t.Fatalf("%s: closing one of alice's two tabs caused %s", name, describe(got))
		}
	}
	for i, n := range nodes {
		if ids, body, err := usersOf(app1, n, ch); err != nil || !sameStrings(ids, []string{"alice", "bob", "carol"}) {
			t.Fatalf("after alice's first tab closed, node %d lists %s %v (alice still has a tab on node 1)", i, body, err)
		}
	}

	// Her last tab closes: exactly one member_removed to each remaining subscriber.
	alice2.conn.Close()
	for name, c := range map[string]*client{"bob (node 1)": bob, "carol (node 2)": carol} {
		got := c.collectFor(3 * time.Second)
		if len(got) != 1 || got[0].Event != "pusher_internal:member_removed" || memberID(t, got[0]) != "alice" {
			t.Fatalf("%s: after alice's last tab closed, want exactly one member_removed alice within 3 s, got %s", name, describe(got))
		}
	}
	usersEverywhere("bob", "carol")

	// Bob unsubscribes (socket stays): carol on node 2 sees him leave once.
	bob.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-room"}}`)
	got := carol.collectFor(3 * time.Second)
	if len(got) != 1 || got[0].Event != "pusher_internal:member_removed" || memberID(t, got[0]) != "bob" {
		t.Fatalf("carol: after bob unsubscribed on node 1, want one member_removed bob, got %s", describe(got))
	}
	usersEverywhere("carol")
}

// collectAll returns what each client received within the same window d.
func collectAll(d time.Duration, cs ...*client) [][]message {
	time.Sleep(d)
	out := make([][]message, len(cs))
	for i, c := range cs {
		out[i] = c.drain(100 * time.Millisecond) // what arrived meanwhile is buffered
	}
	return out
}

// Two tabs of one user join, then leave, on two nodes at the same moment:
// each observer still gets exactly one member_added and one member_removed,
// and the tabs get nothing about their own user.
func TestClusterPresenceTabsOnTwoNodesJoinAndLeaveTogether(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "presence-busy"
	obs1, obs2 := joinObservers(t, nodes, ch)
	names := []string{"obs1 (node 2)", "obs2 (node 0)"}

	for round := 0; round < 3; round++ {
		user := fmt.Sprintf("dave%d", round)
		cd := fmt.Sprintf(`{"user_id":%q}`, user)
		tab1, tab2 := dial(t, nodes[0]), dial(t, nodes[1])
		for _, tab := range []*client{tab1, tab2} {
			tab.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": ch, "auth": tab.auth(ch, cd), "channel_data": cd}})
		}
		for _, tab := range []*client{tab1, tab2} {
			tab.expect("pusher_internal:subscription_succeeded")
		}
		got := collectAll(3*time.Second, obs1, obs2, tab1, tab2)
		for i, name := range names {
			if len(got[i]) != 1 || got[i][0].Event != "pusher_internal:member_added" || memberID(t, got[i][0]) != user {
				t.Errorf("round %d, %s: two tabs of %s joined at once on nodes 0 and 1; want exactly one member_added, got %s", round, name, user, describe(got[i]))
			}
		}
		for i := 0; i < 2; i++ {
			if len(got[2+i]) > 0 {
				t.Errorf("round %d: tab %d (node %d) of %s, whose two tabs joined at once, got %s; a user's own sockets never get member_added for that user", round, i+1, i, user, describe(got[2+i]))
			}
		}
		tab1.conn.Close()
		tab2.conn.Close()
		got = collectAll(3*time.Second, obs1, obs2)
		for i, name := range names {
			if len(got[i]) != 1 || got[i][0].Event != "pusher_internal:member_removed" || memberID(t, got[i][0]) != user {
				t.Errorf("round %d, %s: both tabs of %s closed at once; want exactly one member_removed, got %s", round, name, user, describe(got[i]))
			}
		}
		if t.Failed() {
			return
		}
	}
}

// x, y and z join at the same moment on nodes 0, 1 and 2. Every member's
// view (its subscription_succeeded list, then member_added/member_removed)
// must end up with every member, each learned exactly once.
func TestClusterPresenceSimultaneousJoinsConverge(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "presence-busy"
	obs1, obs2 := joinObservers(t, nodes, ch)

	ids := []string{"x", "y", "z"}
	joiners := []*client{dial(t, nodes[0]), dial(t, nodes[1]), dial(t, nodes[2])}
	for i, c := range joiners {
		cd := fmt.Sprintf(`{"user_id":%q}`, ids[i])
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": ch, "auth": c.auth(ch, cd), "channel_data": cd}})
	}
	// What each client knew before: the observers know each other.
	known := map[string][]string{"obs1": {"obs2"}, "obs2": {"obs1"}}
	for i, c := range joiners {
		_, snap, _ := presenceData(t, c.expect("pusher_internal:subscription_succeeded"))
		known[ids[i]] = snap
	}
	views := append([]*client{obs1, obs2}, joiners...)
	who := []string{"obs1 (node 2)", "obs2 (node 0)", "x (node 0)", "y (node 1)", "z (node 2)"}
	self := []string{"obs1", "obs2", "x", "y", "z"}
	got := collectAll(3*time.Second, views...)
	for i := range views {
		learned := map[string]int{}
		members := map[string]bool{}
		for _, m := range known[self[i]] {
			learned[m]++
			members[m] = true
		}
		for _, m := range got[i] {
			switch m.Event {
			case "pusher_internal:member_added":
				learned[memberID(t, m)]++
				members[memberID(t, m)] = true
			case "pusher_internal:member_removed":
				delete(members, memberID(t, m))
				t.Errorf("%s: member_removed %s while nobody left", who[i], m.Data)
			default:
				t.Errorf("%s: unexpected %s", who[i], describe([]message{m}))
			}
		}
		var view []string
		for m := range members {
			view = append(view, m)
		}
		sort.Strings(view)
		var want []string
		for _, u := range self {
			if u != self[i] || i >= 2 { // a joiner's list includes itself
				want = append(want, u)
			}
		}
		if !sameStrings(view, want) {
			t.Errorf("%s: after x, y, z joined at once on 3 nodes its member list is %v, want %v (knew %v, then got %s)", who[i], view, want, known[self[i]], describe(got[i]))
		}
		for m, n := range learned {
			if n > 1 {
				t.Errorf("%s: learned of %s %d times (knew %v, then got %s); each member is announced to a socket once", who[i], m, n, known[self[i]], describe(got[i]))
			}
		}
	}
	for i, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("5 users via node %d", i), func() (bool, string) {
			ids, body, err := usersOf(app1, n, ch)
			return err == nil && sameStrings(ids, []string{"obs1", "obs2", "x", "y", "z"}), fmt.Sprint(body, err)
		})
	}
}

func TestClusterPresenceNodeKilledMembersRemoved(t *testing.T) {
	r := startRedis(t)
	const nodeTimeout = 3
	nodes := startCluster(t, 3, clusterConfig(r, "resound", nodeTimeout, defaultAppList))
	const ch = "presence-room"
	u0, u1 := dial(t, nodes[0]), dial(t, nodes[1])
	u2, u2b := dial(t, nodes[2]), dial(t, nodes[2])
	sharedA, sharedB := dial(t, nodes[1]), dial(t, nodes[2])
	u0.join(ch, `{"user_id":"u0"}`)
	u1.join(ch, `{"user_id":"u1"}`)
	u2.join(ch, `{"user_id":"u2"}`)
	u2b.join(ch, `{"user_id":"u2"}`)
	sharedA.join(ch, `{"user_id":"shared"}`) // tabs on node 1 and node 2
	sharedB.join(ch, `{"user_id":"shared"}`)
	news := dial(t, nodes[2])
	news.subscribe("news-on-dead-node")
	eventually(t, 5*time.Second, "4 users and 7 sockets seen from node 0", func() (bool, string) {
		ids, body, err := usersOf(app1, nodes[0], ch)
		n, body2, err2 := connectionsOf(app1, nodes[0])
		return err == nil && err2 == nil && sameStrings(ids, []string{"shared", "u0", "u1", "u2"}) && n == 7, fmt.Sprint(body, err, body2, err2)
	})
	u0.drain(500 * time.Millisecond)
	u1.drain(300 * time.Millisecond)
	sharedA.drain(300 * time.Millisecond)

	killed := time.Now()
	nodes[2].kill9()
	limit := time.Duration(nodeTimeout+3) * time.Second
	deadline := killed.Add(limit)
	// u0's first message is timed; the rest is read after the deadline.
	var first []message
	if m, ok := u0.tryNext(time.Until(deadline)); ok {
		first = append(first, m)
		t.Logf("u0 (node 0): first message %v after kill -9: %s", time.Since(killed).Round(100*time.Millisecond), describe(first))
	}
	time.Sleep(time.Until(deadline))
	got := collectAll(0, u0, u1, sharedA)
	got[0] = append(first, got[0]...)
	for i, name := range []string{"u0 (node 0)", "u1 (node 1)", "shared tab (node 1)"} {
		if len(got[i]) != 1 || got[i][0].Event != "pusher_internal:member_removed" || memberID(t, got[i][0]) != "u2" {
			t.Fatalf("%s: node 2 was killed with -9 (node_timeout %d s); within %v want exactly one member_removed u2 (and none for \"shared\", who has a tab on node 1), got %s",
				name, nodeTimeout, limit, describe(got[i]))
		}
	}
	for i, n := range nodes[:2] {
		eventually(t, 3*time.Second, fmt.Sprintf("node %d to forget the dead node's members and sockets", i), func() (bool, string) {
			ids, body, err := usersOf(app1, n, ch)
			c, body2, err2 := connectionsOf(app1, n)
			occ, body3, err3 := getJSON(app1, n, "/apps/app-1/channels/news-on-dead-node", nil)
			return err == nil && err2 == nil && err3 == nil && sameStrings(ids, []string{"shared", "u0", "u1"}) && c == 3 && occ["occupied"] == false,
				fmt.Sprint(body, err, body2, err2, body3, err3)
		})
	}
	// Nothing more arrives later (no late or repeated removal).
	for name, c := range map[string]*client{"u0": u0, "u1": u1} {
		if got := c.collectFor(time.Second); len(got) > 0 {
			t.Fatalf("%s: after the removal: %s", name, describe(got))
		}
	}
	// A newcomer sees the survivors only.
	u3 := dial(t, nodes[1])
	if _, ids, _ := presenceData(t, u3.join(ch, `{"user_id":"u3"}`)); !sameStrings(ids, []string{"shared", "u0", "u1", "u3"}) {
		t.Fatalf("a newcomer after node 2 died sees %v, want [shared u0 u1 u3]", ids)
	}
	for _, n := range nodes[:2] {
		if !n.alive() {
			t.Fatalf("surviving node %s is down", n.addr)
		}
	}
}

// A node stopped with SIGTERM closes its sockets (4200): their users leave,
// once, for the sockets on the other nodes.
func TestClusterPresenceNodeStoppedGracefully(t *testing.T) {
	r := startRedis(t)
	const nodeTimeout = 3
	nodes := startCluster(t, 3, clusterConfig(r, "resound", nodeTimeout, defaultAppList))
	const ch = "presence-room"
	u0, u1, u2 := dial(t, nodes[0]), dial(t, nodes[1]), dial(t, nodes[2])
	shared1, shared2 := dial(t, nodes[1]), dial(t, nodes[2])
	u0.join(ch, `{"user_id":"u0"}`)
	u1.join(ch, `{"user_id":"u1"}`)
	u2.join(ch, `{"user_id":"u2"}`)
	shared1.join(ch, `{"user_id":"shared"}`)
	shared2.join(ch, `{"user_id":"shared"}`)
	eventually(t, 5*time.Second, "4 users seen from node 0", func() (bool, string) {
		ids, body, err := usersOf(app1, nodes[0], ch)
		return err == nil && sameStrings(ids, []string{"shared", "u0", "u1", "u2"}), fmt.Sprint(body, err)
	})
	collectAll(500*time.Millisecond, u0, u1, shared1)

	nodes[2].stop()
	if errCode, closeCode := u2.closeInfo(5 * time.Second); errCode != 4200 || closeCode != 4200 {
		t.Fatalf("socket on the stopped node: pusher:error %d, close %d; want 4200, 4200", errCode, closeCode)
	}
	got := collectAll(time.Duration(nodeTimeout+3)*time.Second, u0, u1, shared1)
	for i, name := range []string{"u0 (node 0)", "u1 (node 1)", "shared tab (node 1)"} {
		if len(got[i]) != 1 || got[i][0].Event != "pusher_internal:member_removed" || memberID(t, got[i][0]) != "u2" {
			t.Fatalf("%s: node 2 stopped gracefully; want exactly one member_removed u2 (none for \"shared\", still on node 1), got %s", name, describe(got[i]))
		}
	}
	for i, n := range nodes[:2] {
		eventually(t, 3*time.Second, fmt.Sprintf("node %d: users and connections without node 2", i), func() (bool, string) {
			ids, body, err := usersOf(app1, n, ch)
			c, body2, err2 := connectionsOf(app1, n)
			return err == nil && err2 == nil && sameStrings(ids, []string{"shared", "u0", "u1"}) && c == 3, fmt.Sprint(body, err, body2, err2)
		})
	}
}

// ---------------------------------------------------------------------------
// 3. HTTP queries from any node

func TestClusterHTTPQueriesAreClusterWide(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	a := dial(t, nodes[0])
	a.subscribe("pub-a")
	a.join("presence-q", `{"user_id":"u1"}`)
	b := dial(t, nodes[1])
	b.subscribe("pub-a")
	b.subscribe("pub-b")
	b.join("presence-q", `{"user_id":"u2"}`)
	c := dial(t, nodes[2])
	c.join("presence-q", `{"user_id":"u2"}`)
	c.subscribe("private-p")
	dial(t, nodes[2]) // connected, subscribed to nothing
	const sockets = 4

	for i, n := range nodes {
		what := func(s string) string { return fmt.Sprintf("%s via node %d", s, i) }
		eventually(t, 5*time.Second, what("GET /channels lists the channels of every node"), func() (bool, string) {
			_, body, err := getJSON(app1, n, "/apps/app-1/channels", nil)
			return err == nil && jsonEqual(body, `{"channels":{"pub-a":{},"pub-b":{},"presence-q":{},"private-p":{}}}`), fmt.Sprint(body, err)
		})
		eventually(t, 5*time.Second, what("/channels?filter_by_prefix=presence-&info=user_count"), func() (bool, string) {
			_, body, err := getJSON(app1, n, "/apps/app-1/channels", map[string]string{"filter_by_prefix": "presence-", "info": "user_count"})
			return err == nil && jsonEqual(body, `{"channels":{"presence-q":{"user_count":2}}}`), fmt.Sprint(body, err)
		})
		eventually(t, 5*time.Second, what("/channels/pub-a subscription_count 2"), func() (bool, string) {
			_, body, err := getJSON(app1, n, "/apps/app-1/channels/pub-a", map[string]string{"info": "subscription_count"})
			return err == nil && jsonEqual(body, `{"occupied":true,"subscription_count":2}`), fmt.Sprint(body, err)
		})
		eventually(t, 5*time.Second, what("/channels/presence-q user_count 2, subscription_count 3"), func() (bool, string) {
			_, body, err := getJSON(app1, n, "/apps/app-1/channels/presence-q", map[string]string{"info": "subscription_count,user_count"})
			return err == nil && jsonEqual(body, `{"occupied":true,"user_count":2,"subscription_count":3}`), fmt.Sprint(body, err)
		})
		eventually(t, 5*time.Second, what("/channels/presence-q/users"), func() (bool, string) {
			ids, body, err := usersOf(app1, n, "presence-q")
			return err == nil && sameStrings(ids, []string{"u1", "u2"}), fmt.Sprint(body, err)
		})
		eventually(t, 5*time.Second, what("/connections = sum over nodes"), func() (bool, string) {
			got, body, err := connectionsOf(app1, n)
			return err == nil && got == sockets, fmt.Sprint(body, err)
		})
	}

	// Changes show everywhere: pub-b's only subscriber (node 1) leaves; u2's
	// node-1 tab closes (u2 stays through node 2).
	b.conn.Close()
	for i, n := range nodes {
		what := func(s string) string { return fmt.Sprintf("%s via node %d", s, i) }
		eventually(t, 5*time.Second, what("pub-b vacant after its only subscriber (node 1) left"), func() (bool, string) {
			_, body, err := getJSON(app1, n, "/apps/app-1/channels", nil)
			_, body2, err2 := getJSON(app1, n, "/apps/app-1/channels/pub-b", map[string]string{"info": "subscription_count"})
			return err == nil && err2 == nil && jsonEqual(body, `{"channels":{"pub-a":{},"presence-q":{},"private-p":{}}}`) &&
				jsonEqual(body2, `{"occupied":false,"subscription_count":0}`), fmt.Sprint(body, err, body2, err2)
		})
		eventually(t, 5*time.Second, what("presence-q: 2 users, 2 sockets; 3 connections"), func() (bool, string) {
			_, body, err := getJSON(app1, n, "/apps/app-1/channels/presence-q", map[string]string{"info": "subscription_count,user_count"})
			ids, body2, err2 := usersOf(app1, n, "presence-q")
			got, body3, err3 := connectionsOf(app1, n)
			return err == nil && err2 == nil && err3 == nil && jsonEqual(body, `{"occupied":true,"user_count":2,"subscription_count":2}`) &&
				sameStrings(ids, []string{"u1", "u2"}) && got == sockets-1, fmt.Sprint(body, err, body2, err2, body3, err3)
		})
	}
}

func TestClusterTerminateConnectionsOnOtherNodes(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "presence-term"
	survivor := dial(t, nodes[1])
	survivor.join(ch, `{"user_id":"survivor"}`)
	v1, v2 := dial(t, nodes[1]), dial(t, nodes[2])
	v1.join(ch, `{"user_id":"victim"}`)
	v2.join(ch, `{"user_id":"victim"}`)
	watcher := dial(t, nodes[0])
	watcher.join(ch, `{"user_id":"watcher"}`)
	eventually(t, 5*time.Second, "3 users seen from node 0", func() (bool, string) {
		ids, body, err := usersOf(app1, nodes[0], ch)
		return err == nil && sameStrings(ids, []string{"survivor", "victim", "watcher"}), fmt.Sprint(body, err)
	})
	survivor.drain(500 * time.Millisecond)

	status, body, err := apiTry(app1, nodes[0], "POST", "/apps/app-1/users/victim/terminate_connections", nil, "{}")
	if err != nil || status != 200 || body != "{}" {
		t.Fatalf("terminate via node 0: %d %s %v", status, body, err)
	}
	for name, v := range map[string]*client{"victim tab on node 1": v1, "victim tab on node 2": v2} {
		errCode, closeCode := v.closeInfo(5 * time.Second)
		if errCode != 4009 || closeCode != 4009 {
			t.Fatalf("%s: terminated via node 0: pusher:error %d, close %d; want 4009 and 4009", name, errCode, closeCode)
		}
	}
	for name, c := range map[string]*client{"survivor (node 1)": survivor, "watcher (node 0)": watcher} {
		got := c.collectFor(3 * time.Second)
		if len(got) != 1 || got[0].Event != "pusher_internal:member_removed" || memberID(t, got[0]) != "victim" {
			t.Fatalf("%s: want exactly one member_removed victim, got %s", name, describe(got))
		}
		c.ping()
	}
	for i, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("victim gone via node %d", i), func() (bool, string) {
			ids, body, err := usersOf(app1, n, ch)
			return err == nil && sameStrings(ids, []string{"survivor", "watcher"}), fmt.Sprint(body, err)
		})
	}
}

func TestClusterCacheChannelsAcrossNodes(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))

	// Nothing cached anywhere: cache_miss.
	miss := dial(t, nodes[1])
	miss.subscribe("cache-prices")
	miss.expect("pusher:cache_miss")

	// Published via node 0, seen live on node 1, replayed to a newcomer on node 2.
	trigger(t, nodes[0], "cache-prices", "tick", "41", "")
	trigger(t, nodes[0], "cache-prices", "tick", "42", "")
	for _, want := range []string{"41", "42"} {
		if m := miss.expect("tick"); m.dataString() != want {
			t.Fatalf("live on node 1: %s, want %s", m.Data, want)
		}
	}
	late := dial(t, nodes[2])
	late.subscribe("cache-prices")
	if m := late.next(5 * time.Second); m.Event != "tick" || m.Channel != "cache-prices" || m.dataString() != "42" {
		t.Fatalf("newcomer on node 2: want the last event (tick 42) published via node 0 replayed, got %s on %q: %s", m.Event, m.Channel, m.Data)
	}
	if got := late.collectFor(500 * time.Millisecond); len(got) > 0 {
		t.Fatalf("newcomer on node 2: more than one replay: %s", describe(got))
	}

	// Published via node 1 while nobody anywhere is subscribed.
	trigger(t, nodes[1], "cache-empty", "tick", "7", "")
	time.Sleep(1200 * time.Millisecond) // allowed propagation lag
	for i, n := range []*server{nodes[0], nodes[2]} {
		c := dial(t, n)
		c.subscribe("cache-empty")
		if m := c.next(5 * time.Second); m.Event != "tick" || m.dataString() != "7" {
			t.Fatalf("subscriber %d: cache-empty published via node 1 with no subscribers: want tick 7 replayed, got %s: %s", i, m.Event, m.Data)
		}
	}

	// A private cache channel nobody published to: miss on every node.
	for i, n := range nodes {
		c := dial(t, n)
		c.subscribe("private-cache-none")
		if m := c.next(5 * time.Second); m.Event != "pusher:cache_miss" || m.Channel != "private-cache-none" {
			t.Fatalf("node %d: want pusher:cache_miss, got %s on %q: %s", i, m.Event, m.Channel, m.Data)
		}
	}
}

func TestClusterMaxConnectionsAcrossNodes(t *testing.T) {
	r := startRedis(t)
	apps := `[{"id":"app-1","key":"key-1","secret":"secret-1","max_connections":4}]`
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, apps))
	var open []*client
	for _, n := range []*server{nodes[0], nodes[0], nodes[1], nodes[1]} {
		open = append(open, dial(t, n))
		time.Sleep(300 * time.Millisecond)
	}
	for i, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("4 connections via node %d", i), func() (bool, string) {
			got, body, err := connectionsOf(app1, n)
			return err == nil && got == 4, fmt.Sprint(body, err)
		})
	}
	time.Sleep(1200 * time.Millisecond) // past the allowed overshoot window
	for i, n := range []*server{nodes[2], nodes[0]} {
		c, head := rawDial(t, n, "/app/key-1?protocol=7", "")
		if !strings.HasPrefix(head, "HTTP/1.1 101") {
			t.Fatalf("handshake: %q", head)
		}
		m := c.next(5 * time.Second)
		if m.Event != "pusher:error" {
			t.Fatalf("attempt %d: 5th socket of an app with max_connections 4 (2 on node 0, 2 on node 1) was accepted: %s %s", i, m.Event, m.Data)
		}
		if code, _ := m.dataObject(t)["code"].(float64); code != 4004 {
			t.Fatalf("attempt %d: pusher:error %s, want 4004", i, m.Data)
		}
		if cc := c.expectClose(); cc != 4004 {
			t.Fatalf("attempt %d: close %d, want 4004", i, cc)
		}
	}
	for _, c := range open {
		c.ping()
	}
	// A slot frees cluster-wide when a socket leaves node 0.
	open[0].conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := rawDial(t, nodes[2], "/app/key-1?protocol=7", "")
		m := c.next(5 * time.Second)
		if m.Event == "pusher:connection_established" {
			break
		}
		c.conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the slot freed on node 0 never became usable on node 2: %s %s", m.Event, m.Data)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// 4. namespacing: prefixes and app ids

func TestClusterPrefixesIsolateClustersOnOneRedis(t *testing.T) {
	r := startRedis(t)
	A := startCluster(t, 2, clusterConfig(r, "alpha", 3, defaultAppList))
	B := startCluster(t, 2, clusterConfig(r, "beta", 3, defaultAppList))
	const ch = "presence-room"

	a0, a1 := dial(t, A[0]), dial(t, A[1])
	b0, b1 := dial(t, B[0]), dial(t, B[1])
	for _, c := range []*client{a0, a1, b0, b1} {
		c.subscribe("news")
	}
	a0.join(ch, `{"user_id":"a-user"}`)
	b0.join(ch, `{"user_id":"b-user"}`)
	eventually(t, 5*time.Second, "a-user listed in cluster alpha", func() (bool, string) {
		ids, body, err := usersOf(app1, A[1], ch)
		return err == nil && sameStrings(ids, []string{"a-user"}), fmt.Sprint(body, err)
	})
	eventually(t, 5*time.Second, "b-user listed in cluster beta", func() (bool, string) {
		ids, body, err := usersOf(app1, B[1], ch)
		return err == nil && sameStrings(ids, []string{"b-user"}), fmt.Sprint(body, err)
	})
	// Joining on the other node of each cluster sees only its own cluster.
	if _, ids, _ := presenceData(t, a1.join(ch, `{"user_id":"a-user2"}`)); !sameStrings(ids, []string{"a-user", "a-user2"}) {
		t.Fatalf("alpha: subscription_succeeded lists %v, want [a-user a-user2]", ids)
	}
	if _, ids, _ := presenceData(t, b1.join(ch, `{"user_id":"b-user2"}`)); !sameStrings(ids, []string{"b-user", "b-user2"}) {
		t.Fatalf("beta: subscription_succeeded lists %v, want [b-user b-user2]", ids)
	}
	if m := a0.expect("pusher_internal:member_added"); memberID(t, m) != "a-user2" {
		t.Fatalf("alpha node 0: %s", m.Data)
	}
	if m := b0.expect("pusher_internal:member_added"); memberID(t, m) != "b-user2" {
		t.Fatalf("beta node 0: %s", m.Data)
	}

	trigger(t, A[0], "news", "only-alpha", "1", "")
	trigger(t, B[1], "news", "only-beta", "2", "")
	for name, c := range map[string]*client{"alpha 0": a0, "alpha 1": a1} {
		got := c.collectFor(1500 * time.Millisecond)
		if len(got) != 1 || got[0].Event != "only-alpha" {
			t.Fatalf("%s: want only only-alpha, got %s", name, describe(got))
		}
	}
	for name, c := range map[string]*client{"beta 0": b0, "beta 1": b1} {
		got := c.collectFor(1500 * time.Millisecond)
		if len(got) != 1 || got[0].Event != "only-beta" {
			t.Fatalf("%s: want only only-beta, got %s", name, describe(got))
		}
	}
	// Whispers stay in their cluster.
	a1.send(`{"event":"client-a","channel":"presence-room","data":{}}`)
	if m := a0.expect("client-a"); string(m.UserID) != `"a-user2"` {
		t.Fatalf("alpha whisper: %s", m.UserID)
	}
	for name, c := range map[string]*client{"beta 0": b0, "beta 1": b1} {
		if got := c.collectFor(time.Second); len(got) > 0 {
			t.Fatalf("%s received alpha's whisper: %s", name, describe(got))
		}
	}
	// Queries, terminate and cache stay in their cluster.
	for i, n := range A {
		eventually(t, 5*time.Second, fmt.Sprintf("alpha node %d: 2 connections, users [a-user a-user2]", i), func() (bool, string) {
			got, body, err := connectionsOf(app1, n)
			ids, body2, err2 := usersOf(app1, n, ch)
			return err == nil && err2 == nil && got == 2 && sameStrings(ids, []string{"a-user", "a-user2"}), fmt.Sprint(body, err, body2, err2)
		})
	}
	if status, body, err := apiTry(app1, A[0], "POST", "/apps/app-1/users/b-user/terminate_connections", nil, "{}"); err != nil || status != 200 {
		t.Fatalf("terminate: %d %s %v", status, body, err)
	}
	trigger(t, A[1], "cache-alpha", "c", "alpha", "")
	time.Sleep(1200 * time.Millisecond)
	b0.ping() // b-user's socket in cluster beta was not terminated by alpha
	if got := b1.collectFor(500 * time.Millisecond); len(got) > 0 {
		t.Fatalf("beta 1 saw %s after alpha terminated a user of the same id", describe(got))
	}
	bc := dial(t, B[0])
	bc.subscribe("cache-alpha")
	if m := bc.next(5 * time.Second); m.Event != "pusher:cache_miss" {
		t.Fatalf("beta replayed alpha's cache: %s %s", m.Event, m.Data)
	}

	// Redis itself: every key and pub/sub channel is under one of the prefixes.
	keys := r.list(0, "KEYS", "*")
	for _, k := range keys {
		if !strings.HasPrefix(k, "alpha") && !strings.HasPrefix(k, "beta") {
			t.Errorf("redis key %q is not under the prefix alpha or beta", k)
		}
	}
	chans := r.list(-1, "PUBSUB", "CHANNELS", "*")
	for _, c := range chans {
		if !strings.HasPrefix(c, "alpha") && !strings.HasPrefix(c, "beta") {
			t.Errorf("redis pub/sub channel %q is not under the prefix alpha or beta", c)
		}
	}
	numpat, _ := r.do("PUBSUB", "NUMPAT")
	t.Logf("redis pub/sub channels: %v (pattern subscriptions: %v); keys: %v", chans, numpat, keys)
}

func TestClusterAppsWithSameChannelNamesAreIsolated(t *testing.T) {
	r := startRedis(t)
	app2 := appCreds{"app-2", "key-2", "secret-2"}
	apps := `[{"id":"app-1","key":"key-1","secret":"secret-1"},{"id":"app-2","key":"key-2","secret":"secret-2"}]`
	nodes := startCluster(t, 2, clusterConfig(r, "resound", 3, apps))
	const ch = "presence-room"
	x0, x1 := dialAs(t, nodes[0], app1), dialAs(t, nodes[1], app1)
	y0, y1 := dialAs(t, nodes[0], app2), dialAs(t, nodes[1], app2)
	for _, c := range []*client{x0, x1} {
		c.subscribeAs(app1, "news")
	}
	for _, c := range []*client{y0, y1} {
		c.subscribeAs(app2, "news")
	}
	x0.joinAs(app1, ch, `{"user_id":"same"}`)
	eventually(t, 5*time.Second, "app-1 user listed via node 1", func() (bool, string) {
		ids, body, err := usersOf(app1, nodes[1], ch)
		return err == nil && sameStrings(ids, []string{"same"}), fmt.Sprint(body, err)
	})
	if _, ids, _ := presenceData(t, y1.joinAs(app2, ch, `{"user_id":"other"}`)); !sameStrings(ids, []string{"other"}) {
		t.Fatalf("app-2 on node 1 sees members %v of app-1's channel of the same name", ids)
	}
	if got := x0.collectFor(time.Second); len(got) > 0 {
		t.Fatalf("app-1 socket got app-2's presence: %s", describe(got))
	}
	eventually(t, 5*time.Second, "app-2 users via node 0", func() (bool, string) {
		ids, body, err := usersOf(app2, nodes[0], ch)
		return err == nil && sameStrings(ids, []string{"other"}), fmt.Sprint(body, err)
	})

	triggerAs(t, app1, nodes[0], "news", "for-app-1", "1", "")
	triggerAs(t, app2, nodes[1], "news", "for-app-2", "2", "")
	for name, c := range map[string]*client{"app-1 node 0": x0, "app-1 node 1": x1} {
		got := c.collectFor(1500 * time.Millisecond)
		if len(got) != 1 || got[0].Event != "for-app-1" {
			t.Fatalf("%s: want only for-app-1, got %s", name, describe(got))
		}
	}
	for name, c := range map[string]*client{"app-2 node 0": y0, "app-2 node 1": y1} {
		got := c.collectFor(1500 * time.Millisecond)
		if len(got) != 1 || got[0].Event != "for-app-2" {
			t.Fatalf("%s: want only for-app-2, got %s", name, describe(got))
		}
	}
	for i, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("per-app connections via node %d", i), func() (bool, string) {
			c1, body1, err1 := connectionsOf(app1, n)
			c2, body2, err2 := connectionsOf(app2, n)
			return err1 == nil && err2 == nil && c1 == 2 && c2 == 2, fmt.Sprint(body1, err1, body2, err2)
		})
	}
	// Terminating user "same" of app-1 leaves an app-2 socket alone.
	y0.joinAs(app2, ch, `{"user_id":"same"}`)
	y1.expect("pusher_internal:member_added")
	if status, body, err := apiTry(app1, nodes[1], "POST", "/apps/app-1/users/same/terminate_connections", nil, "{}"); err != nil || status != 200 {
		t.Fatalf("terminate: %d %s %v", status, body, err)
	}
	if errCode, closeCode := x0.closeInfo(5 * time.Second); errCode != 4009 || closeCode != 4009 {
		t.Fatalf("app-1 user terminated via node 1: %d %d", errCode, closeCode)
	}
	if got := y1.collectFor(time.Second); len(got) > 0 {
		t.Fatalf("app-2 saw %s when app-1's user \"same\" was terminated", describe(got))
	}
	y0.ping()
}

// ---------------------------------------------------------------------------
// 5. Redis goes away and comes back empty

func TestClusterSurvivesRedisRestart(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 3, clusterConfig(r, "resound", 3, defaultAppList))
	const ch = "presence-room"
	var members, newsSubs []*client
	for i, n := range nodes {
		c := dial(t, n)
		c.join(ch, fmt.Sprintf(`{"user_id":"u%d"}`, i))
		members = append(members, c)
		s := dial(t, n)
		s.subscribe("news")
		newsSubs = append(newsSubs, s)
	}
	leaver := dial(t, nodes[1])
	leaver.join(ch, `{"user_id":"leaver"}`)
	for i, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("4 users via node %d before the outage", i), func() (bool, string) {
			ids, body, err := usersOf(app1, n, ch)
			return err == nil && sameStrings(ids, []string{"leaver", "u0", "u1", "u2"}), fmt.Sprint(body, err)
		})
	}
	trigger(t, nodes[0], "news", "before", "0", "")
	for _, s := range newsSubs {
		s.expect("before")
	}
	collectAll(300*time.Millisecond, members...) // the member_added of the set-up
	// seen[i]: what member u<i> receives from the outage on.
	seen := make([][]message, len(members))

	r.stop()
	outage := time.Now()
	// Local sockets are still served while Redis is down.
	for round := 0; round < 2; round++ {
		for i, c := range append(append([]*client{}, members...), newsSubs...) {
			c.send(`{"event":"pusher:ping","data":{}}`)
			deadline := time.Now().Add(5 * time.Second)
			for {
				m, ok := c.tryNext(time.Until(deadline))
				if !ok {
					t.Fatalf("socket %d (node %d): no pusher:pong within 5 s while Redis is down", i, i%3)
				}
				if m.Event == "pusher:pong" {
					break
				}
				if i < len(members) {
					seen[i] = append(seen[i], m)
				}
				t.Logf("socket %d (node %d) during the outage: %s", i, i%3, describe([]message{m}))
			}
		}
		if round == 0 {
			leaver.conn.Close() // leaves while Redis is down
			for i, n := range nodes {
				status, body, err := apiTry(app1, n, "POST", "/apps/app-1/events", nil, `{"name":"during","channel":"news","data":"x"}`)
				if err != nil {
					t.Fatalf("node %d: the HTTP API did not answer a publish within 10 s while Redis is down: %v", i, err)
				}
				t.Logf("node %d: publish during the outage: %d %s", i, status, body)
			}
		}
		time.Sleep(2 * time.Second)
	}
	for i, n := range nodes {
		if !n.alive() {
			t.Fatalf("node %d died while Redis was down:\n%s", i, n.logs.String())
		}
	}
	t.Logf("redis down for %v", time.Since(outage).Round(100*time.Millisecond))

	r.start() // the same port, no data
	restarted := time.Now()

	// Cross-node events flow again within ~10 s: probe from node 0 to node 2.
	for k := 0; ; k++ {
		if time.Since(restarted) > 15*time.Second {
			t.Fatalf("no event published via node 0 reached node 2 within 15 s of Redis restarting")
		}
		// A publish may fail while the node reconnects: only delivery counts.
		_, _, _ = apiTry(app1, nodes[0], "POST", "/apps/app-1/events", nil, fmt.Sprintf(`{"name":"probe","channel":"news","data":"%d"}`, k))
		if m, ok := newsSubs[2].tryNext(500 * time.Millisecond); ok && m.Event == "probe" {
			break
		}
	}
	t.Logf("cross-node events flow %v after Redis restarted", time.Since(restarted).Round(100*time.Millisecond))
	// Give every node's subscriber a second to settle, then drain the probes
	// and the events of the outage.
	time.Sleep(time.Second)
	for _, s := range newsSubs {
		for _, m := range s.drain(500 * time.Millisecond) {
			if m.Event != "probe" && m.Event != "during" {
				t.Fatalf("news subscriber got %s", describe([]message{m}))
			}
		}
	}
	eventually(t, 12*time.Second, "events from every node reach every node exactly once", func() (bool, string) {
		tag := strconv.FormatInt(time.Now().UnixNano(), 36)
		var report []string
		ok := true
		for i, n := range nodes {
			status, body, err := apiTry(app1, n, "POST", "/apps/app-1/events", nil, fmt.Sprintf(`{"name":"after","channel":"news","data":"%s-%d"}`, tag, i))
			if err != nil || status != 200 {
				ok = false
				report = append(report, fmt.Sprintf("publish via node %d: %d %s %v", i, status, body, err))
			}
		}
		for j, s := range newsSubs {
			got := map[string]int{}
			for _, m := range s.collectFor(time.Second) {
				if m.Event == "after" && strings.HasPrefix(m.dataString(), tag+"-") {
					got[m.dataString()]++
				}
			}
			for i := range nodes {
				if got[tag+"-"+strconv.Itoa(i)] != 1 {
					ok = false
				}
			}
			report = append(report, fmt.Sprintf("node %d subscriber got %v", j, got))
		}
		return ok, strings.Join(report, "; ")
	})

	// Presence converges: every node lists the members of every node, and
	// not the user who left during the outage.
	want := []string{"u0", "u1", "u2"}
	for i, n := range nodes {
		eventually(t, 12*time.Second, fmt.Sprintf("users %v via node %d after Redis restarted", want, i), func() (bool, string) {
			ids, body, err := usersOf(app1, n, ch)
			return err == nil && sameStrings(ids, want), fmt.Sprint(body, err)
		})
		eventually(t, 5*time.Second, fmt.Sprintf("6 connections via node %d after Redis restarted", i), func() (bool, string) {
			got, body, err := connectionsOf(app1, n)
			return err == nil && got == 6, fmt.Sprint(body, err)
		})
	}
	t.Logf("presence converged %v after Redis restarted", time.Since(restarted).Round(100*time.Millisecond))
	// It stays converged past node_timeout (no member expires, no ghost returns).
	time.Sleep(5 * time.Second)
	for i, n := range nodes {
		if ids, body, err := usersOf(app1, n, ch); err != nil || !sameStrings(ids, want) {
			t.Fatalf("node %d: users changed after convergence: %s %v, want %v", i, body, err, want)
		}
	}
	// What the members were told from the outage on: their member lists
	// (pusher-js's, Echo's here()) must have dropped the user who left during
	// the outage, once, and still hold every live member.
	for i, c := range members {
		seen[i] = append(seen[i], c.drain(300*time.Millisecond)...)
		view := map[string]bool{"u0": true, "u1": true, "u2": true, "leaver": true}
		delete(view, fmt.Sprintf("u%d", i))
		removedLeaver := 0
		for _, m := range seen[i] {
			switch m.Event {
			case "pusher_internal:member_added":
				view[memberID(t, m)] = true
			case "pusher_internal:member_removed":
				delete(view, memberID(t, m))
				if memberID(t, m) == "leaver" {
					removedLeaver++
				} else {
					t.Logf("u%d (node %d): member_removed for live user %s during/after the outage", i, i, memberID(t, m))
				}
			}
		}
		var got []string
		for u := range view {
			got = append(got, u)
		}
		sort.Strings(got)
		var want []string
		for _, u := range []string{"u0", "u1", "u2"} {
			if u != fmt.Sprintf("u%d", i) {
				want = append(want, u)
			}
		}
		if !sameStrings(got, want) || removedLeaver != 1 {
			t.Errorf("u%d (node %d): \"leaver\" (node 1) disconnected while Redis was down; after convergence this socket's member list is %v (want %v), member_removed leaver received %d times (want 1); everything it received from the outage on: %s",
				i, i, got, want, removedLeaver, describe(seen[i]))
		}
	}
	// A newcomer is announced once to every member, and sees all.
	late := dial(t, nodes[2])
	if _, ids, _ := presenceData(t, late.join(ch, `{"user_id":"late"}`)); !sameStrings(ids, []string{"late", "u0", "u1", "u2"}) {
		t.Fatalf("newcomer after the restart sees %v, want [late u0 u1 u2]", ids)
	}
	for i, c := range members {
		got := c.collectFor(3 * time.Second)
		if len(got) != 1 || got[0].Event != "pusher_internal:member_added" || memberID(t, got[0]) != "late" {
			t.Fatalf("u%d (node %d): want one member_added late, got %s", i, i, describe(got))
		}
	}
	// Whispers cross nodes again.
	members[0].send(`{"event":"client-back","channel":"presence-room","data":{}}`)
	for i, c := range []*client{members[1], members[2], late} {
		if m := c.expect("client-back"); string(m.UserID) != `"u0"` {
			t.Fatalf("whisper %d after the restart: user_id %s", i, m.UserID)
		}
	}
	for i, n := range nodes {
		if !n.alive() {
			t.Fatalf("node %d is down after the Redis restart", i)
		}
	}
}

// ---------------------------------------------------------------------------
// configuration: host/port/password/db keys and the environment

func TestClusterConfigVariantsAndEnvironment(t *testing.T) {
	r := startRedis(t, "--requirepass", "s3cret")
	const prefix = "variant"
	n0 := startServer(t, fmt.Sprintf(`{"apps":%s,"scaling":{"enabled":true,"host":"127.0.0.1","port":%d,"password":"s3cret","db":1,"prefix":%q,"node_timeout":3}}`,
		defaultAppList, r.port, prefix))
	n1 := startServerEnv(t, defaultApps, []string{
		"REVERB_SCALING_ENABLED=true", "REVERB_SCALING_CHANNEL=" + prefix,
		"REDIS_HOST=127.0.0.1", "REDIS_PORT=" + strconv.Itoa(r.port), "REDIS_PASSWORD=s3cret", "REDIS_DB=1",
	})
	n2 := startServerEnv(t, defaultApps, []string{
		"REVERB_SCALING_ENABLED=true", "REVERB_SCALING_CHANNEL=" + prefix, "REDIS_URL=" + r.url(1),
	})
	nodes := []*server{n0, n1, n2}
	var subs []*client
	for i, n := range nodes {
		c := dial(t, n)
		c.join("presence-v", fmt.Sprintf(`{"user_id":"v%d"}`, i))
		subs = append(subs, c)
	}
	for i, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("3 users via node %d (config: host/port/password/db, REDIS_HOST..., REDIS_URL)", i), func() (bool, string) {
			ids, body, err := usersOf(app1, n, "presence-v")
			return err == nil && sameStrings(ids, []string{"v0", "v1", "v2"}), fmt.Sprint(body, err)
		})
	}
	for _, c := range subs {
		c.drain(300 * time.Millisecond)
	}
	for i, n := range nodes {
		trigger(t, n, "presence-v", "from", strconv.Itoa(i), "")
		for j, c := range subs {
			got := c.collectFor(1500 * time.Millisecond)
			if len(got) != 1 || got[0].Event != "from" || got[0].dataString() != strconv.Itoa(i) {
				t.Fatalf("published via node %d, subscriber on node %d got %s", i, j, describe(got))
			}
		}
	}
	if keys := r.list(0, "KEYS", "*"); len(keys) > 0 {
		t.Errorf("db 1 was configured, but db 0 holds keys %v", keys)
	}
	t.Logf("db 1 keys: %v", r.list(1, "KEYS", "*"))
}

// joinObservers puts member obs1 on node 2 and obs2 on node 0 of ch, and
// waits until each knows the other.
func joinObservers(t *testing.T, nodes []*server, ch string) (*client, *client) {
	t.Helper()
	obs1, obs2 := dial(t, nodes[2]), dial(t, nodes[0])
	obs1.join(ch, `{"user_id":"obs1"}`)
	eventually(t, 5*time.Second, "obs1 listed via node 0", func() (bool, string) {
		ids, body, err := usersOf(app1, nodes[0], ch)
		return err == nil && sameStrings(ids, []string{"obs1"}), fmt.Sprint(body, err)
	})
	obs2.join(ch, `{"user_id":"obs2"}`)
	if m := obs1.expect("pusher_internal:member_added"); memberID(t, m) != "obs2" {
		t.Fatal(m.Data)
	}
	return obs1, obs2
}
