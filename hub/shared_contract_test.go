package hub

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// newsLog collects the MemberNews one node receives.
type newsLog struct {
	mu   sync.Mutex
	news []MemberNews
}

func (l *newsLog) add(n MemberNews) {
	l.mu.Lock()
	l.news = append(l.news, n)
	l.mu.Unlock()
}

func (l *newsLog) snapshot() []MemberNews {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]MemberNews(nil), l.news...)
}

// waitNews waits until the log holds n items (and a moment more, to catch
// extras) and returns them.
func (l *newsLog) waitNews(t *testing.T, n int) []MemberNews {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(l.snapshot()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	got := l.snapshot()
	if len(got) != n {
		t.Fatalf("got %d news, want %d: %+v", len(got), n, got)
	}
	return got
}

func describeNews(ns []MemberNews) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		sign := "-"
		if n.Added {
			sign = "+"
		}
		out[i] = sign + n.UserID
	}
	return out
}

func memberOf(uid string) string { return `{"user_id":"` + uid + `","user_info":{"n":"` + uid + `"}}` }

// PresenceContract is what every Presence must do. newPresence returns one
// node's Presence; those of one test share a backend. nodes is how many a
// cluster can have (1 for memory).
func PresenceContract(t *testing.T, nodes int, newPresence func(t *testing.T) Presence) {
	ctx := context.Background()
	start := func(t *testing.T, n int) ([]Presence, []*newsLog) { return startPresences(t, n, newPresence) }
	t.Run("a user is announced once however many sockets and nodes", func(t *testing.T) {
		ps, logs := start(t, nodes)
		joined, left := 0, 0
		for _, p := range ps {
			for range 2 {
				list, err := p.Join(ctx, "app", "presence-a", "u1", memberOf("u1"), 0)
				if err != nil {
					t.Fatal(err)
				}
				if list.Joined {
					joined++
				}
				if len(list.Members) != 1 || list.Members[0] != memberOf("u1") {
					t.Fatalf("members after join: %v", list.Members)
				}
			}
		}
		if n, _ := ps[0].Count(ctx, "app", "presence-a"); n != 1 {
			t.Fatalf("count %d, want 1", n)
		}
		for _, p := range ps {
			for range 2 {
				gone, err := p.Leave(ctx, "app", "presence-a", "u1")
				if err != nil {
					t.Fatal(err)
				}
				if gone {
					left++
				}
			}
		}
		if joined != 1 || left != 1 {
			t.Fatalf("joins that saw the user arrive: %d, leaves that saw them go: %d; want 1 and 1", joined, left)
		}
		for i, l := range logs {
			got := l.waitNews(t, 2)
			if d := describeNews(got); d[0] != "+u1" || d[1] != "-u1" {
				t.Fatalf("node %d heard %v", i, d)
			}
			if got[0].Member != memberOf("u1") || got[1].Version <= got[0].Version {
				t.Fatalf("node %d: bad news %+v", i, got)
			}
		}
		if list, _ := ps[0].Members(ctx, "app", "presence-a"); len(list.Members) != 0 {
			t.Fatalf("members left behind: %v", list.Members)
		}
	})
	t.Run("news reaches every node in one version order", func(t *testing.T) {
		ps, logs := start(t, nodes)
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 20 {
					uid := fmt.Sprintf("n%d-u%d", i, j)
					_, _ = p.Join(ctx, "app", "presence-b", uid, memberOf(uid), 0)
					if j%2 == 0 {
						_, _ = p.Leave(ctx, "app", "presence-b", uid)
					}
				}
			}()
		}
		wg.Wait()
		want := nodes * 30
		first := logs[0].waitNews(t, want)
		for i, l := range logs {
			got := l.waitNews(t, want)
			for j := range got {
				if j > 0 && got[j].Version <= got[j-1].Version {
					t.Fatalf("node %d: version went from %d to %d", i, got[j-1].Version, got[j].Version)
				}
				if got[j] != first[j] {
					t.Fatalf("node %d differs at %d", i, j)
				}
			}
		}
		list, _ := ps[0].Members(ctx, "app", "presence-b")
		if len(list.Members) != nodes*10 || list.Version != first[len(first)-1].Version {
			t.Fatalf("list %d members at %d, want %d at %d", len(list.Members), list.Version, nodes*10, first[len(first)-1].Version)
		}
	})
	t.Run("sync makes a node's share exactly its sockets", func(t *testing.T) {
		ps, logs := start(t, 1)
		for _, u := range []string{"u1", "u2"} {
			if _, err := ps[0].Join(ctx, "app", "presence-c", u, memberOf(u), 0); err != nil {
				t.Fatal(err)
			}
		}
		err := ps[0].Sync(ctx, "app", "presence-c", []LocalMember{{"u2", 2, memberOf("u2")}, {"u3", 1, memberOf("u3")}})
		if err != nil {
			t.Fatal(err)
		}
		got := describeNews(logs[0].waitNews(t, 4))
		sort.Strings(got[2:])
		if fmt.Sprint(got) != "[+u1 +u2 +u3 -u1]" {
			t.Fatalf("news %v", got)
		}
		// u2 now has two sockets: one leave keeps them.
		_, _ = ps[0].Leave(ctx, "app", "presence-c", "u2")
		if n, _ := ps[0].Count(ctx, "app", "presence-c"); n != 2 {
			t.Fatalf("count %d, want 2", n)
		}
		if regs, _ := ps[0].Registered(ctx, "app"); fmt.Sprint(regs) != "[presence-c]" {
			t.Fatalf("registered %v", regs)
		}
	})
	t.Run("a full channel refuses new users, not more sockets of a member", func(t *testing.T) {
		ps, logs := start(t, nodes)
		last := ps[len(ps)-1]
		_, _ = ps[0].Join(ctx, "app", "presence-f", "u1", memberOf("u1"), 2)
		_, _ = last.Join(ctx, "app", "presence-f", "u2", memberOf("u2"), 2)
		if _, err := last.Join(ctx, "app", "presence-f", "u3", memberOf("u3"), 2); err != ErrPresenceFull {
			t.Fatalf("third user on a channel of 2: %v", err)
		}
		if _, err := last.Join(ctx, "app", "presence-f", "u1", memberOf("u1"), 2); err != nil {
			t.Fatalf("another socket of a member: %v", err)
		}
		if n, _ := ps[0].Count(ctx, "app", "presence-f"); n != 2 {
			t.Fatalf("count %d, want 2", n)
		}
		logs[0].waitNews(t, 2) // nothing about u3
	})
	t.Run("versions keep growing when a channel empties", func(t *testing.T) {
		ps, _ := start(t, 1)
		a, _ := ps[0].Join(ctx, "app", "presence-d", "u1", memberOf("u1"), 0)
		_, _ = ps[0].Leave(ctx, "app", "presence-d", "u1")
		b, _ := ps[0].Join(ctx, "app", "presence-d", "u1", memberOf("u1"), 0)
		if b.Version <= a.Version {
			t.Fatalf("version went from %d to %d", a.Version, b.Version)
		}
	})
	if nodes < 2 {
		return
	}
	t.Run("reaping a dead node removes its users once", func(t *testing.T) {
		ps, logs := start(t, 2)
		_, _ = ps[0].Join(ctx, "app", "presence-e", "gone", memberOf("gone"), 0)
		_, _ = ps[0].Join(ctx, "app", "presence-e", "both", memberOf("both"), 0)
		_, _ = ps[1].Join(ctx, "app", "presence-e", "both", memberOf("both"), 0)
		var reaped []string
		for range 2 {
			gone, err := ps[1].Reap(ctx, "node-0")
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range gone {
				reaped = append(reaped, n.App+"/"+n.Channel+"/"+n.UserID)
			}
		}
		if fmt.Sprint(reaped) != "[app/presence-e/gone]" {
			t.Fatalf("two reaps returned %v, want the one user who left, once", reaped)
		}
		if got := describeNews(logs[1].waitNews(t, 3)); fmt.Sprint(got) != "[+gone +both -gone]" {
			t.Fatalf("news %v", got)
		}
		if n, _ := ps[1].Count(ctx, "app", "presence-e"); n != 1 {
			t.Fatalf("count %d, want 1", n)
		}
	})
}

// OccupancyContract is what every Occupancy must do.
func OccupancyContract(t *testing.T, nodes int, newOccupancy func(t *testing.T) Occupancy) {
	ctx := context.Background()
	start := func(t *testing.T, n int) []Occupancy {
		out := make([]Occupancy, n)
		for i := range out {
			out[i] = newOccupancy(t)
			if err := out[i].Start(fmt.Sprintf("node-%d", i), func(string) int { return 7 }); err != nil {
				t.Fatal(err)
			}
			o := out[i]
			t.Cleanup(func() { _ = o.Close() })
		}
		return out
	}
	count := func(t *testing.T, o Occupancy, ch string) int {
		t.Helper()
		n, err := o.Count(ctx, "app", ch)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Run("counts change by one and every node reads them at once", func(t *testing.T) {
		os := start(t, nodes)
		for i, o := range os {
			after, err := o.Add(ctx, "app", "c", 1)
			if err != nil {
				t.Fatal(err)
			}
			if after != i+1 {
				t.Fatalf("subscribe %d answered count %d", i+1, after)
			}
			for _, r := range os {
				if n := count(t, r, "c"); n != i+1 {
					t.Fatalf("after %d subscribes a node counts %d", i+1, n)
				}
			}
		}
		_, _ = os[0].Add(ctx, "app", "other", 1)
		all, _ := os[len(os)-1].Channels(ctx, "app")
		if all["c"] != nodes || all["other"] != 1 || len(all) != 2 {
			t.Fatalf("channels %v", all)
		}
		for i, o := range os {
			if after, _ := o.Add(ctx, "app", "c", -1); after != nodes-i-1 {
				t.Fatalf("unsubscribe %d answered count %d, want %d", i+1, after, nodes-i-1)
			}
		}
		_, _ = os[0].Add(ctx, "app", "other", -1)
		if all, _ := os[0].Channels(ctx, "app"); len(all) != 0 {
			t.Fatalf("empty channels still listed: %v", all)
		}
	})
	t.Run("a count never goes below zero", func(t *testing.T) {
		os := start(t, 1)
		_, _ = os[0].Add(ctx, "app", "d", -1)
		_, _ = os[0].Add(ctx, "app", "d", 1)
		if n := count(t, os[0], "d"); n != 1 {
			t.Fatalf("count %d, want 1", n)
		}
	})
	t.Run("sync sets this node's share", func(t *testing.T) {
		os := start(t, nodes)
		for range 3 {
			_, _ = os[0].Add(ctx, "app", "e", 1)
		}
		if nodes > 1 {
			_, _ = os[1].Add(ctx, "app", "e", 1)
		}
		if err := os[0].Sync(ctx, "app", "e", 1); err != nil {
			t.Fatal(err)
		}
		if n := count(t, os[0], "e"); n != min(nodes, 2) {
			t.Fatalf("count %d, want %d", n, min(nodes, 2))
		}
	})
	if nodes < 2 {
		if n := start(t, 1)[0].OtherConnections("app"); n != 0 {
			t.Fatalf("one node sees %d connections elsewhere", n)
		}
		return
	}
	t.Run("other nodes' sockets are counted and a reaped node's share goes", func(t *testing.T) {
		os := start(t, 2)
		_, _ = os[0].Add(ctx, "app", "f", 1)
		_, _ = os[1].Add(ctx, "app", "f", 1)
		_, _ = os[0].Add(ctx, "app", "only-0", 1)
		deadline := time.Now().Add(5 * time.Second)
		for os[1].OtherConnections("app") != 7 {
			if time.Now().After(deadline) {
				t.Fatalf("other connections %d, want 7", os[1].OtherConnections("app"))
			}
			time.Sleep(10 * time.Millisecond)
		}
		var vacated []ChannelRef
		for range 2 {
			v, err := os[1].Reap(ctx, "node-0")
			if err != nil {
				t.Fatal(err)
			}
			vacated = append(vacated, v...)
		}
		if fmt.Sprint(vacated) != "[{app only-0}]" {
			t.Fatalf("two reaps vacated %v, want only-0 once", vacated)
		}
		if n := count(t, os[1], "f"); n != 1 {
			t.Fatalf("count %d after reaping, want 1", n)
		}
	})
}

func TestMemoryPresenceContract(t *testing.T) {
	PresenceContract(t, 1, func(t *testing.T) Presence { return NewMemoryPresence() })
}

func TestMemoryOccupancyContract(t *testing.T) {
	OccupancyContract(t, 1, func(t *testing.T) Occupancy { return NewMemoryOccupancy() })
}

// redisConnFor connects to addr with a prefix unique to the test, so the
// nodes of one test share state and tests do not.
func redisConnFor(t *testing.T, addr string, nodeTimeout int) *RedisConn {
	conn, err := NewRedisConn(RedisConfig{URL: "redis://" + addr + "/0", Prefix: "contract-" + t.Name(), NodeTimeout: nodeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestRedisPresenceContract(t *testing.T) {
	addr := startRedis(t)
	PresenceContract(t, 3, func(t *testing.T) Presence {
		return NewRedisPresence(redisConnFor(t, addr, 0), []string{"app"})
	})
}

func TestRedisOccupancyContract(t *testing.T) {
	addr := startRedis(t)
	OccupancyContract(t, 3, func(t *testing.T) Occupancy {
		return NewRedisOccupancy(redisConnFor(t, addr, 0), []string{"app"})
	})
}

// TestRedisLivenessReapsOnlyTheSilentNode: a node that stops beating is
// reaped by the others (possibly by several, each hook being idempotent);
// a beating one never is.
func TestRedisLivenessReapsOnlyTheSilentNode(t *testing.T) {
	addr := startRedis(t)
	var mu sync.Mutex
	reaped := map[string]int{}
	hooks := LivenessHooks{Reap: func(_ context.Context, node string) error {
		mu.Lock()
		reaped[node]++
		mu.Unlock()
		return nil
	}}
	alive := NewRedisLiveness(redisConnFor(t, addr, 1))
	silent := NewRedisLiveness(redisConnFor(t, addr, 1))
	if err := alive.Start("alive", hooks); err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	if err := silent.Start("silent", LivenessHooks{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	silent.cancel() // stops beating, as a killed node would
	<-silent.done
	stopped := time.Now()
	for {
		mu.Lock()
		n := reaped["silent"]
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Since(stopped) > 5*time.Second {
			t.Fatal("the silent node was never reaped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(stopped); d < 700*time.Millisecond {
		t.Fatalf("reaped after %v, before node_timeout (1 s)", d)
	}
	time.Sleep(600 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if reaped["alive"] != 0 {
		t.Fatalf("a beating node was reaped %d times", reaped["alive"])
	}
}

// TestRedisLivenessResyncsAfterRedisLostItsData: when the node set and
// epoch vanish (Redis restarted empty), every node is asked to register
// its share again.
func TestRedisLivenessResyncsAfterRedisLostItsData(t *testing.T) {
	addr := startRedis(t)
	conn := redisConnFor(t, addr, 5)
	resyncs := make(chan struct{}, 10)
	l := NewRedisLiveness(conn)
	conn.acquire() // kept open for the FLUSHALL below
	defer conn.release()
	if err := l.Start("n1", LivenessHooks{Resync: func() { resyncs <- struct{}{} }}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	time.Sleep(600 * time.Millisecond)
	select {
	case <-resyncs:
		t.Fatal("resync asked with nothing lost")
	default:
	}
	if err := conn.client.Do(context.Background(), conn.client.B().Flushall().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resyncs:
	case <-time.After(3 * time.Second):
		t.Fatal("no resync after Redis lost its data")
	}
}

// startPresences starts n nodes' Presence, each logging the news it gets,
// closed when the test ends.
func startPresences(t *testing.T, n int, newPresence func(t *testing.T) Presence) ([]Presence, []*newsLog) {
	t.Helper()
	ps := make([]Presence, n)
	logs := make([]*newsLog, n)
	for i := range ps {
		ps[i], logs[i] = newPresence(t), &newsLog{}
		if err := ps[i].Start(fmt.Sprintf("node-%d", i), logs[i].add); err != nil {
			t.Fatal(err)
		}
		p := ps[i]
		t.Cleanup(func() { _ = p.Close() })
	}
	return ps, logs
}
