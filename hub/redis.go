package hub

import (
	"context"
	"fmt"
	"log"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// RedisConfig enables horizontal scaling over Redis.
type RedisConfig struct {
	Enabled bool `json:"enabled"`
	// URL is redis://[:password@]host:port/db; or Host, Port, Password, DB.
	URL      string `json:"url"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Password string `json:"password"`
	DB       int    `json:"db"`
	// Prefix namespaces every key and pub/sub channel ("resound").
	Prefix string `json:"prefix"`
	// NodeTimeout: seconds without a heartbeat before a node is declared
	// dead and its presence members removed (10).
	NodeTimeout int `json:"node_timeout"`
	// PublishTimeoutMs bounds how long an HTTP API publish waits for Redis
	// to take the event (2000); past it the call answers 503 and the event
	// is delivered nowhere.
	PublishTimeoutMs int `json:"publish_timeout_ms"`
	// StreamLength is about how many events each app's stream keeps (10000):
	// a node whose Redis connection dropped catches up on at most that many.
	StreamLength int `json:"stream_length"`
}

func (c RedisConfig) clientOption() (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	if c.URL != "" {
		o, err := rueidis.ParseURL(c.URL)
		if err != nil {
			return opt, fmt.Errorf("scaling url %q: %w", c.URL, err)
		}
		opt = o
	} else {
		host, port := c.Host, c.Port
		if host == "" {
			host = "127.0.0.1"
		}
		if port == 0 {
			port = 6379
		}
		opt.InitAddress = []string{host + ":" + strconv.Itoa(port)}
		opt.Password = c.Password
		opt.SelectDB = c.DB
	}
	opt.ConnWriteTimeout = 2 * time.Second
	opt.Dialer.Timeout = 2 * time.Second
	return opt, nil
}

// RedisCluster is the Redis-backed Bus plus the shared state a cluster
// needs: presence, cached events, per-node occupancy and liveness. Every
// Redis command runs on its own goroutines, never on an event loop.
type RedisCluster struct {
	cfg    RedisConfig
	client rueidis.Client
	apps   []string
	node   string

	// bus carries events; the cluster delegates its Bus methods to it.
	bus    *RedisBus
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Presence and cache work from event loops, in order.
	work chan func()

	healthy    atomic.Bool
	resyncWant atomic.Bool
	// resync re-registers this node's presence after Redis returns; set by the hub.
	resync func()
	// snapshot reports this node's occupancy per app; set by the hub.
	snapshot func(appID string) (channels map[string]int, connections int)
	// presenceMessage builds member_added or member_removed for a change.
	presenceMessage func(presenceChange) (Message, bool)

	othersMu    sync.Mutex
	othersConns map[string]int // app id -> connections on other nodes
}

// NewRedisClient connects to Redis; it retries for up to 30 s so a node and
// its Redis can start together.
func NewRedisClient(cfg RedisConfig) (rueidis.Client, error) {
	opt, err := cfg.clientOption()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		client, err := rueidis.NewClient(opt)
		if err == nil {
			return client, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("scaling: cannot reach Redis at %v: %w (check REDIS_HOST/REDIS_PORT or scaling.url)", opt.InitAddress, err)
		}
		log.Printf("scaling: Redis at %v not reachable yet (%v), retrying", opt.InitAddress, err)
		time.Sleep(500 * time.Millisecond)
	}
}

// NewRedisCluster connects to Redis (see NewRedisClient).
func NewRedisCluster(cfg RedisConfig, appIDs []string, node string) (*RedisCluster, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "resound"
	}
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = 10
	}
	client, err := NewRedisClient(cfg)
	if err != nil {
		return nil, err
	}
	c := &RedisCluster{cfg: cfg, client: client, apps: appIDs, node: node,
		work: make(chan func(), 65536), othersConns: map[string]int{}}
	c.bus = NewRedisBus(client, cfg, appIDs)
	c.bus.onDown = c.markDown
	c.healthy.Store(true)
	return c, nil
}

func (c *RedisCluster) base(app string) string { return c.cfg.Prefix + ":" + app }
func (c *RedisCluster) nodesKey() string       { return c.cfg.Prefix + ":nodes" }

type presenceKeys struct{ held, users, info, nodeChannels, version string }

func (c *RedisCluster) presenceKeys(app, channel string) presenceKeys {
	b := c.base(app) + ":presence:" + channel
	return presenceKeys{b + ":held", b + ":users", b + ":info", c.base(app) + ":node:" + c.node + ":presence", b + ":version"}
}

// Start starts the bus and the background work.
func (c *RedisCluster) Start(node string, deliver func(Message)) error {
	if node != "" {
		c.node = node
	}
	log.Printf("scaling: node %s joins the cluster on Redis (prefix %q)", c.node, c.cfg.Prefix)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.bus.Start(c.node, deliver); err != nil {
		return err
	}
	c.wg.Add(2)
	go c.workLoop()
	go c.heartbeat()
	return nil
}

// Publish queues m for every node; it never blocks an event loop.
func (c *RedisCluster) Publish(m Message) error { return c.bus.Publish(m) }

// PublishWait returns once Redis has taken every message (see Bus).
func (c *RedisCluster) PublishWait(ctx context.Context, msgs []Message) error {
	return c.bus.PublishWait(ctx, msgs)
}

// Healthy reports whether Redis answered recently.
func (c *RedisCluster) Healthy() bool { return c.healthy.Load() }

// Close drains queued work, leaves the cluster (our presence members are
// removed and member_removed sent at once, rather than after node_timeout)
// and disconnects.
func (c *RedisCluster) Close() error {
	deadline := time.Now().Add(2 * time.Second)
	for len(c.work) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if gone := c.reapNode(ctx, c.node); len(gone) > 0 {
		for _, m := range gone {
			_ = c.bus.PublishWait(ctx, []Message{m})
		}
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	_ = c.bus.Close()
	c.client.Close()
	return nil
}

func (c *RedisCluster) markDown() {
	if c.healthy.Swap(false) {
		log.Printf("scaling: Redis unavailable; serving local sockets only until it returns")
	}
	c.resyncWant.Store(true)
}

// run queues Redis work that an event loop asked for; it runs in order.
func (c *RedisCluster) run(fn func()) bool {
	select {
	case c.work <- fn:
		return true
	default:
		return false
	}
}

func (c *RedisCluster) workLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case fn := <-c.work:
			fn()
		}
	}
}

func (c *RedisCluster) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, 2*time.Second)
}

// join records a socket of member on channel. It returns whether the user is
// new to the channel cluster-wide, the presence version, and every member.
func (c *RedisCluster) join(app, channel, uid, member string) (bool, int64, []string, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	k := c.presenceKeys(app, channel)
	vals, err := joinScript.Exec(ctx, c.client, []string{k.held, k.users, k.info, k.nodeChannels, k.version}, []string{uid, c.node, member, channel}).ToArray()
	if err != nil || len(vals) < 2 {
		c.markDown()
		return false, 0, nil, fmt.Errorf("presence join: %v", err)
	}
	first, _ := vals[0].AsInt64()
	version, _ := vals[1].AsInt64()
	members := make([]string, 0, len(vals)-2)
	for _, v := range vals[2:] {
		s, _ := v.ToString()
		members = append(members, s)
	}
	return first == 1, version, members, nil
}

// leave undoes one join; when the user left the channel cluster-wide it
// returns their member JSON and the new presence version.
func (c *RedisCluster) leave(app, channel, uid string) (string, int64, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	k := c.presenceKeys(app, channel)
	vals, err := leaveScript.Exec(ctx, c.client, []string{k.held, k.users, k.info, k.version, c.nodesKey()}, []string{uid, c.node, c.base(app), channel}).ToArray()
	if err != nil {
		c.markDown()
		return "", 0, err
	}
	if len(vals) < 2 {
		return "", 0, nil
	}
	m, _ := vals[0].ToString()
	v, _ := vals[1].AsInt64()
	return m, v, nil
}

// present reports whether a user is on a presence channel anywhere.
func (c *RedisCluster) present(app, channel, uid string) (bool, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	return c.client.Do(ctx, c.client.B().Hexists().Key(c.presenceKeys(app, channel).users).Field(uid).Build()).AsBool()
}

// users lists the user ids on a presence channel, cluster-wide.
func (c *RedisCluster) users(app, channel string) ([]string, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	return c.client.Do(ctx, c.client.B().Hkeys().Key(c.presenceKeys(app, channel).users).Build()).AsStrSlice()
}

// members returns every member JSON on a presence channel.
func (c *RedisCluster) members(app, channel string) ([]string, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	return c.client.Do(ctx, c.client.B().Hvals().Key(c.presenceKeys(app, channel).info).Build()).AsStrSlice()
}

// presenceChange is a user added to or removed from a channel by a resync
// or a reap.
type presenceChange struct {
	app, channel, member string
	added                bool
	version              int64
}

// sync makes Redis agree with this node's members of one channel (uid ->
// count, member JSON) and returns the users added and removed cluster-wide.
func (c *RedisCluster) sync(app, channel string, local map[string]localMember) ([]presenceChange, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	k := c.presenceKeys(app, channel)
	args := []string{c.node, channel}
	for uid, m := range local {
		args = append(args, uid, strconv.Itoa(m.count), m.json)
	}
	vals, err := syncScript.Exec(ctx, c.client, []string{k.held, k.users, k.info, k.nodeChannels, k.version}, args).ToArray()
	if err != nil {
		return nil, err
	}
	var out []presenceChange
	for i := 0; i+2 < len(vals); i += 3 {
		kind, _ := vals[i].ToString()
		m, _ := vals[i+1].ToString()
		v, _ := vals[i+2].AsInt64()
		out = append(out, presenceChange{app: app, channel: channel, member: m, added: kind == "+", version: v})
	}
	return out, nil
}

// nodePresenceChannels lists channels where Redis thinks this node has members.
func (c *RedisCluster) nodePresenceChannels(app string) ([]string, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	return c.client.Do(ctx, c.client.B().Smembers().Key(c.presenceKeys(app, "").nodeChannels).Build()).AsStrSlice()
}

type localMember struct {
	count int
	json  string
}

// Client is the cluster's Redis connection, shared with the other Redis
// implementations of the node.
func (c *RedisCluster) Client() rueidis.Client { return c.client }

// liveNodes lists nodes that heartbeated within the timeout.
func (c *RedisCluster) liveNodes(ctx context.Context) ([]string, error) {
	min := strconv.FormatInt(time.Now().Add(-time.Duration(c.cfg.NodeTimeout)*time.Second).UnixMilli(), 10)
	return c.client.Do(ctx, c.client.B().Zrangebyscore().Key(c.nodesKey()).Min(min).Max("+inf").Build()).AsStrSlice()
}

// remoteChannels sums the occupancy snapshots of every other live node.
func (c *RedisCluster) remoteChannels(app string) (map[string]int, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	nodes, err := c.liveNodes(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, n := range nodes {
		if n == c.node {
			continue
		}
		m, err := c.client.Do(ctx, c.client.B().Hgetall().Key(c.base(app)+":node:"+n+":channels").Build()).AsStrMap()
		if err != nil {
			return nil, err
		}
		for ch, v := range m {
			k, _ := strconv.Atoi(v)
			out[ch] += k
		}
	}
	return out, nil
}

// remoteConnections is the last known number of sockets on other nodes.
func (c *RedisCluster) remoteConnections(app string) int {
	c.othersMu.Lock()
	defer c.othersMu.Unlock()
	return c.othersConns[app]
}

// heartbeat marks this node alive, publishes its occupancy, reaps dead nodes
// and, after an outage, re-registers this node's presence.
func (c *RedisCluster) heartbeat() {
	defer c.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var backSince time.Time
	for tick := 0; ; tick++ {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := c.timeout()
		err := c.beat(ctx, tick%4 == 0)
		cancel()
		if err != nil {
			c.markDown()
			continue
		}
		if !c.healthy.Swap(true) {
			log.Printf("scaling: Redis is back")
			backSince = time.Now()
		}
		// Announce presence changes only once every node has had time to
		// resubscribe (pub/sub keeps nothing for a node that is not).
		if time.Since(backSince) >= resubscribeMax+500*time.Millisecond && c.resyncWant.Swap(false) && c.resync != nil {
			c.run(c.resync)
		}
	}
}

func (c *RedisCluster) beat(ctx context.Context, full bool) error {
	now := time.Now()
	ttl := time.Duration(c.cfg.NodeTimeout) * time.Second * 3
	cmds := rueidis.Commands{c.client.B().Zadd().Key(c.nodesKey()).ScoreMember().ScoreMember(float64(now.UnixMilli()), c.node).Build()}
	for _, app := range c.apps {
		if c.snapshot == nil {
			break
		}
		channels, conns := c.snapshot(app)
		key := c.base(app) + ":node:" + c.node + ":channels"
		cmds = append(cmds, c.client.B().Del().Key(key).Build())
		if len(channels) > 0 {
			fv := c.client.B().Hset().Key(key).FieldValue()
			for ch, n := range channels {
				fv = fv.FieldValue(ch, strconv.Itoa(n))
			}
			cmds = append(cmds, fv.Build(), c.client.B().Pexpire().Key(key).Milliseconds(ttl.Milliseconds()).Build())
		}
		cmds = append(cmds, c.client.B().Set().Key(c.base(app)+":node:"+c.node+":conns").Value(strconv.Itoa(conns)).Px(ttl).Build())
	}
	for i, r := range c.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
		if added, _ := r.AsInt64(); i == 0 && added == 1 {
			// We were not in the node set: new, or reaped as dead while
			// alive (a long pause). Either way, register our presence again.
			c.resyncWant.Store(true)
		}
	}
	if !full {
		return nil
	}
	// Reap nodes that stopped beating, and count sockets on the others.
	cutoff := strconv.FormatInt(now.Add(-time.Duration(c.cfg.NodeTimeout)*time.Second).UnixMilli(), 10)
	dead, err := c.client.Do(ctx, c.client.B().Zrangebyscore().Key(c.nodesKey()).Min("-inf").Max("("+cutoff).Build()).AsStrSlice()
	if err != nil {
		return err
	}
	for _, n := range dead {
		log.Printf("scaling: node %s missed its heartbeats for %ds; removing its presence members", n, c.cfg.NodeTimeout)
		for _, m := range c.reapNode(ctx, n) {
			_ = c.Publish(m)
		}
	}
	live, err := c.liveNodes(ctx)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, app := range c.apps {
		keys := make([]string, 0, len(live))
		for _, n := range live {
			if n != c.node {
				keys = append(keys, c.base(app)+":node:"+n+":conns")
			}
		}
		if len(keys) == 0 {
			continue
		}
		vals, err := c.client.Do(ctx, c.client.B().Mget().Key(keys...).Build()).ToArray()
		if err != nil {
			return err
		}
		for _, v := range vals {
			s, _ := v.ToString()
			k, _ := strconv.Atoi(s)
			counts[app] += k
		}
	}
	c.othersMu.Lock()
	c.othersConns = counts
	c.othersMu.Unlock()
	return nil
}

// reapNode removes a node's presence (once cluster-wide: only the caller
// that wins does the work) and returns the member_removed messages to send.
func (c *RedisCluster) reapNode(ctx context.Context, node string) []Message {
	args := append([]string{node, c.cfg.Prefix}, c.apps...)
	vals, err := reapScript.Exec(ctx, c.client, []string{c.nodesKey()}, args).ToArray()
	if err != nil {
		return nil
	}
	var out []Message
	for i := 0; i+3 < len(vals); i += 4 {
		app, _ := vals[i].ToString()
		ch, _ := vals[i+1].ToString()
		member, _ := vals[i+2].ToString()
		v, _ := vals[i+3].AsInt64()
		if c.presenceMessage != nil && member != "" {
			if m, ok := c.presenceMessage(presenceChange{app: app, channel: ch, member: member, version: v}); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// resubscribeMax caps the wait between attempts to resubscribe.
const resubscribeMax = time.Second

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
