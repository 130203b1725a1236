package hub

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resound/resound/webhook"
)

// hookCluster is two nodes' presence and occupancy on one Redis, whose
// scripts queue webhook events into the store that delivery reads.
type hookCluster struct {
	t       *testing.T
	addr    string
	prefix  string
	store   *webhook.RedisStore
	hooks   *scriptHooks
	dropped atomic.Int64
	nodes   map[string]*hookNode
}

type hookNode struct {
	p *RedisPresence
	o *RedisOccupancy
}

const hookApp = "app"

func newHookCluster(t *testing.T, delay time.Duration, capacity int, wants func(app, name string) bool) *hookCluster {
	t.Helper()
	addr := startRedis(t)
	c := &hookCluster{t: t, addr: addr, prefix: "hooks-" + t.Name(), nodes: map[string]*hookNode{}}
	c.store = webhook.NewRedisStore(redisClient(t, addr), c.prefix, "reader", capacity, time.Minute, nil, func(n int) { c.dropped.Add(int64(n)) })
	t.Cleanup(func() { _ = c.store.Close() })
	if wants == nil {
		wants = func(string, string) bool { return true }
	}
	c.hooks = &scriptHooks{target: c.store.ScriptTarget(delay), wants: wants}
	return c
}

func (c *hookCluster) node(name string) *hookNode {
	if n := c.nodes[name]; n != nil {
		return n
	}
	conn, err := NewRedisConn(RedisConfig{URL: "redis://" + c.addr + "/0", Prefix: c.prefix})
	if err != nil {
		c.t.Fatal(err)
	}
	n := &hookNode{p: NewRedisPresence(conn, []string{hookApp}), o: NewRedisOccupancy(conn, []string{hookApp})}
	n.p.useHooks(c.hooks)
	n.o.useHooks(c.hooks)
	if err := n.p.Start(name, func(MemberNews) {}); err != nil {
		c.t.Fatal(err)
	}
	if err := n.o.Start(name, func(string) int { return 0 }); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = n.p.Close(); _ = n.o.Close() })
	c.nodes[name] = n
	return n
}

// join and leave make the calls a subscription makes, in the hub's order.
func (c *hookCluster) join(node, channel, uid string) {
	c.t.Helper()
	n, ctx := c.node(node), context.Background()
	if _, err := n.o.Add(ctx, hookApp, channel, 1); err != nil {
		c.t.Fatal(err)
	}
	if uid != "" {
		if _, err := n.p.Join(ctx, hookApp, channel, uid, fmt.Sprintf(`{"user_id":%q}`, uid), 0); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *hookCluster) leave(node, channel, uid string) {
	c.t.Helper()
	n, ctx := c.node(node), context.Background()
	if uid != "" {
		if _, err := n.p.Leave(ctx, hookApp, channel, uid); err != nil {
			c.t.Fatal(err)
		}
	}
	if _, err := n.o.Add(ctx, hookApp, channel, -1); err != nil {
		c.t.Fatal(err)
	}
}

// take reads want events the way delivery does, acknowledges them, and
// fails on more.
func (c *hookCluster) take(want int) string {
	c.t.Helper()
	var got []webhook.Entry
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); len(got) < want && time.Now().Before(deadline); {
		es, err := c.store.Take(ctx, 100, 100*time.Millisecond)
		if err != nil {
			c.t.Fatal(err)
		}
		got = append(got, es...)
	}
	if err := c.store.Done(ctx, got); err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, e := range got {
		if e.Event.App != hookApp {
			c.t.Fatalf("event of app %q: %+v", e.Event.App, e.Event)
		}
		out = append(out, e.Event.Name+":"+e.Event.Channel+":"+e.Event.UserID)
	}
	if len(got) != want {
		c.t.Fatalf("took %d events, want %d: %v", len(got), want, out)
	}
	if queued, held := c.pending(); queued+held != 0 {
		c.t.Fatalf("after %v, %d events still queued and %d held", out, queued, held)
	}
	return strings.Join(out, " ")
}

// pending counts what the queue and the held removals hold.
func (c *hookCluster) pending() (queued, held int64) {
	c.t.Helper()
	client, ctx := redisClient(c.t, c.addr), context.Background()
	base := c.prefix + ":webhooks"
	queued, err := client.Do(ctx, client.B().Xlen().Key(base+":queue").Build()).AsInt64()
	if err != nil {
		c.t.Fatal(err)
	}
	held, err = client.Do(ctx, client.B().Zcard().Key(base+":held").Build()).AsInt64()
	if err != nil {
		c.t.Fatal(err)
	}
	return queued, held
}

// A user leaving node A and back on node B within the delay sends
// nothing, whichever node's code runs faster: the addition cancels the
// held removal inside Redis, in the scripts' order.
func TestScriptHooksReloadAcrossNodesSendsNothing(t *testing.T) {
	c := newHookCluster(t, time.Minute, 100, nil)
	c.join("A", "presence-room", "u1")
	if got := c.take(2); got != "channel_occupied:presence-room: member_added:presence-room:u1" {
		t.Fatalf("join sent %q", got)
	}
	c.leave("A", "presence-room", "u1")
	if queued, held := c.pending(); queued != 0 || held != 2 {
		t.Fatalf("after the leave: %d queued, %d held; want 0, 2", queued, held)
	}
	c.join("B", "presence-room", "u1")
	if queued, held := c.pending(); queued != 0 || held != 0 {
		t.Fatalf("after the join elsewhere: %d queued, %d held; want nothing", queued, held)
	}
}

// Past the delay the removal goes out, and the user's return after it is
// news of its own, in that order.
func TestScriptHooksRemovalPastDelayThenAddition(t *testing.T) {
	c := newHookCluster(t, 50*time.Millisecond, 100, nil)
	c.join("A", "presence-room", `u"1/é`)
	c.take(2)
	c.leave("A", "presence-room", `u"1/é`)
	if got := c.take(2); got != `member_removed:presence-room:u"1/é channel_vacated:presence-room:` {
		t.Fatalf("leave sent %q", got)
	}
	c.join("B", "presence-room", `u"1/é`)
	if got := c.take(2); got != `channel_occupied:presence-room: member_added:presence-room:u"1/é` {
		t.Fatalf("return sent %q", got)
	}
}

// A user still on another node leaves nothing behind; an app that wants
// removals but not additions still has its removal cancelled by the
// return.
func TestScriptHooksWantedKinds(t *testing.T) {
	c := newHookCluster(t, time.Minute, 100, func(_, name string) bool {
		return name == webhook.MemberRemoved || name == webhook.ChannelVacated
	})
	c.join("A", "presence-room", "u1")
	c.join("B", "presence-room", "u1")
	c.leave("A", "presence-room", "u1")
	if queued, held := c.pending(); queued != 0 || held != 0 {
		t.Fatalf("user still on B: %d queued, %d held", queued, held)
	}
	c.leave("B", "presence-room", "u1")
	if _, held := c.pending(); held != 2 {
		t.Fatalf("last leave: %d held, want 2", held)
	}
	c.join("A", "presence-room", "u1")
	if queued, held := c.pending(); queued != 0 || held != 0 {
		t.Fatalf("return: %d queued, %d held; want nothing", queued, held)
	}
}

// A reap queues a dead node's leaves once: a second reap, on any node,
// finds nothing. Signed-in users and #server-to-user- channels are no
// webhook's.
func TestScriptHooksReapQueuesOnce(t *testing.T) {
	c := newHookCluster(t, 0, 100, nil)
	c.join("A", "presence-room", "u1")
	c.join("A", "public", "")
	c.join("A", "#server-to-user-u1", "")
	if _, err := c.node("A").p.Join(context.Background(), hookApp, usersChannel, "u1", `{"user_id":"u1"}`, 0); err != nil {
		t.Fatal(err)
	}
	c.join("B", "presence-room", "u2")
	c.take(4)
	for i := 0; i < 2; i++ {
		b, ctx := c.node("B"), context.Background()
		if _, err := b.p.Reap(ctx, "A"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.o.Reap(ctx, "A"); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if queued, held := c.pending(); queued+held != 0 {
				t.Fatalf("second reap queued %d, held %d", queued, held)
			}
			break
		}
		if got := c.take(2); got != "member_removed:presence-room:u1 channel_vacated:public:" {
			t.Fatalf("reap sent %q", got)
		}
	}
}

// A resync tells the webhooks what changed while Redis was away, once; a
// resync after Redis lost its data tells them nothing.
func TestScriptHooksSyncQueuesOnce(t *testing.T) {
	c := newHookCluster(t, 0, 100, nil)
	c.join("A", "presence-room", "u1")
	c.join("A", "public", "")
	c.take(3)
	a, ctx := c.node("A"), context.Background()
	for i := 0; i < 2; i++ {
		// Every socket left while Redis was unreachable.
		if err := a.p.Sync(ctx, hookApp, "presence-room", nil); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{"presence-room", "public"} {
			if err := a.o.Sync(ctx, hookApp, ch, 0); err != nil {
				t.Fatal(err)
			}
		}
		if i == 0 {
			if got := c.take(3); got != "member_removed:presence-room:u1 channel_vacated:presence-room: channel_vacated:public:" {
				t.Fatalf("sync sent %q", got)
			}
		} else if queued, held := c.pending(); queued+held != 0 {
			t.Fatalf("second sync queued %d, held %d", queued, held)
		}
	}
	// Someone joined while Redis was unreachable.
	if err := a.o.Sync(ctx, hookApp, "presence-room", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.p.Sync(ctx, hookApp, "presence-room", []LocalMember{{UserID: "u2", Sockets: 1, Member: `{"user_id":"u2"}`}}); err != nil {
		t.Fatal(err)
	}
	if got := c.take(2); got != "channel_occupied:presence-room: member_added:presence-room:u2" {
		t.Fatalf("sync sent %q", got)
	}
}

// The queue's capacity holds for events the scripts queue, and what it
// trims is counted as dropped.
func TestScriptHooksCapacityTrimCounted(t *testing.T) {
	c := newHookCluster(t, 0, 2, nil)
	for i := 0; i < 5; i++ {
		c.join("A", fmt.Sprintf("public-%d", i), "")
	}
	if queued, _ := c.pending(); queued != 2 {
		t.Fatalf("queue holds %d, want its capacity 2", queued)
	}
	if n := c.dropped.Load(); n != 3 {
		t.Fatalf("dropped %d, want 3", n)
	}
	if got := c.take(2); got != "channel_occupied:public-3: channel_occupied:public-4:" {
		t.Fatalf("kept %q, want the newest", got)
	}
}

// hookBeater is one node's liveness on the hook cluster's Redis, beaten by
// hand so a test decides which node notices a loss when.
type hookBeater struct {
	l         *RedisLiveness
	refilling atomic.Bool
}

func (c *hookCluster) beater(node string) *hookBeater {
	c.t.Helper()
	conn, err := NewRedisConn(RedisConfig{URL: "redis://" + c.addr + "/0", Prefix: c.prefix})
	if err != nil {
		c.t.Fatal(err)
	}
	b := &hookBeater{l: NewRedisLiveness(conn)}
	b.l.node, b.l.ctx = node, context.Background()
	b.l.hooks = LivenessHooks{DataLost: func() { b.refilling.Store(true) }, Refilling: b.refilling.Load}
	c.t.Cleanup(func() { _ = b.l.Close() })
	return b
}

// beat beats once and says whether the node noticed that Redis lost its data.
func (b *hookBeater) beat() bool {
	was := b.refilling.Load()
	b.l.beat()
	return !was && b.refilling.Load()
}

// flushAll empties Redis as a restart without persistence does.
func (c *hookCluster) flushAll() {
	c.t.Helper()
	client := redisClient(c.t, c.addr)
	if err := client.Do(context.Background(), client.B().Flushall().Build()).Error(); err != nil {
		c.t.Fatal(err)
	}
}

// refill is a node's resync after the loss: its share goes back.
func (c *hookCluster) refill(node, channel string, subscriptions int, members ...string) {
	c.t.Helper()
	n, ctx := c.node(node), context.Background()
	var local []LocalMember
	for _, uid := range members {
		local = append(local, LocalMember{UserID: uid, Sockets: 1, Member: fmt.Sprintf(`{"user_id":%q}`, uid)})
	}
	if err := n.o.Sync(ctx, hookApp, channel, subscriptions); err != nil {
		c.t.Fatal(err)
	}
	if err := n.p.Sync(ctx, hookApp, channel, local); err != nil {
		c.t.Fatal(err)
	}
}

// noticeLossAndRefill has node notice that Redis lost its data on its next
// beat, put its share of presence-room (one socket of uid) back without
// queueing anything, and finish its resync.
func (c *hookCluster) noticeLossAndRefill(b *hookBeater, node, uid string) {
	c.t.Helper()
	if !b.beat() {
		c.t.Fatalf("%s did not notice the loss", node)
	}
	c.refill(node, "presence-room", 1, uid)
	c.expectNothing(node + "'s refill")
	b.refilling.Store(false)
	b.beat()
}

func (c *hookCluster) expectNothing(when string) {
	c.t.Helper()
	if queued, held := c.pending(); queued+held != 0 {
		c.t.Fatalf("%s: %d events queued and %d held", when, queued, held)
	}
}

// After Redis lost its data the quiet is the cluster's, not each node's:
// a node that refilled first and then lost its last socket on a channel
// another node still has sockets on (not yet refilled) must not vacate it,
// and the other node's refill announces nothing.
func TestScriptHooksQuietAfterDataLossIsClusterWide(t *testing.T) {
	c := newHookCluster(t, time.Hour, 100, nil)
	a, b := c.beater("A"), c.beater("B")
	a.beat()
	b.beat()
	c.join("A", "presence-room", "u1")
	c.join("B", "presence-room", "u2")
	if got := c.take(3); got != "channel_occupied:presence-room: member_added:presence-room:u1 member_added:presence-room:u2" {
		t.Fatalf("joins sent %q", got)
	}

	c.flushAll()
	c.noticeLossAndRefill(a, "A", "u1")
	// A's socket leaves before B noticed the loss.
	c.leave("A", "presence-room", "u1")
	c.expectNothing("A's leave while B had not refilled")
	c.noticeLossAndRefill(b, "B", "u2")

	// The quiet lasts while a node is refilling even once the loss's
	// marker lapsed.
	b.refilling.Store(true)
	b.beat()
	client := redisClient(t, c.addr)
	base := webhook.Base(c.prefix)
	if err := client.Do(context.Background(), client.B().Del().Key(webhook.QuietKey(base)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	c.join("A", "presence-room", "u3")
	c.expectNothing("a join while B refills")
	b.refilling.Store(false)
	b.beat()

	// Then events flow again, from the refilled truth.
	c.leave("B", "presence-room", "u2")
	c.leave("A", "presence-room", "u3")
	if queued, held := c.pending(); queued != 0 || held != 3 {
		t.Fatalf("leaves after the quiet: %d queued, %d held, want 0 and 3", queued, held)
	}
}

// While quiet, an addition still cancels the removal held for it, and a
// removal holds nothing.
func TestScriptHooksQuietStillCancelsHeldRemovals(t *testing.T) {
	c := newHookCluster(t, time.Hour, 100, nil)
	c.join("A", "presence-room", "u1")
	c.take(2)
	c.leave("A", "presence-room", "u1")
	if queued, held := c.pending(); queued != 0 || held != 2 {
		t.Fatalf("leave: %d queued, %d held", queued, held)
	}
	client := redisClient(t, c.addr)
	base := webhook.Base(c.prefix)
	if err := client.Do(context.Background(), client.B().Set().Key(webhook.QuietKey(base)).Value("1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	c.join("B", "presence-room", "u1")
	c.expectNothing("a quiet join back")
	c.leave("B", "presence-room", "u1")
	c.expectNothing("a quiet leave")
}

// A node that dies while refilling does not keep the cluster quiet: its
// claim lapses after the node timeout.
func TestScriptHooksDeadRefillingNodeLapses(t *testing.T) {
	c := newHookCluster(t, 0, 100, nil)
	client := redisClient(t, c.addr)
	ctx, base := context.Background(), webhook.Base(c.prefix)
	a := c.beater("A")
	a.refilling.Store(true)
	a.beat()
	if n, err := client.Do(ctx, client.B().Zcard().Key(webhook.ResyncingKey(base)).Build()).AsInt64(); err != nil || n != 1 {
		t.Fatalf("refilling set holds %d (%v), want A", n, err)
	}
	c.join("B", "public-1", "")
	c.expectNothing("a join while A refills")
	// A dies: its claim is due to lapse within node_timeout; move it due now.
	if err := client.Do(ctx, client.B().Zadd().Key(webhook.ResyncingKey(base)).ScoreMember().ScoreMember(1, "A").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	c.join("B", "public-2", "")
	if got := c.take(1); got != "channel_occupied:public-2:" {
		t.Fatalf("after A's claim lapsed: %q", got)
	}
}
