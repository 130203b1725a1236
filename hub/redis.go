package hub

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
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

// RedisCluster is the Redis-backed Bus and cache of last events. Every
// Redis command runs on its own goroutines, never on an event loop.
type RedisCluster struct {
	cfg    RedisConfig
	client rueidis.Client
	apps   []string
	node   string

	deliver func(Message)
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// Publishes from event loops queue here; one goroutine sends them in order.
	outbox chan Message
	// Presence and cache work from event loops, in order.
	work chan func()

	conn    *RedisConn
	healthy atomic.Bool
}

// NewRedisCluster carries the bus of the given apps over conn.
func NewRedisCluster(conn *RedisConn, appIDs []string) *RedisCluster {
	conn.acquire()
	c := &RedisCluster{cfg: conn.cfg, client: conn.client, conn: conn, apps: appIDs,
		outbox: make(chan Message, 65536), work: make(chan func(), 65536)}
	c.healthy.Store(true)
	return c
}

func (c *RedisCluster) base(app string) string       { return c.cfg.Prefix + ":" + app }
func (c *RedisCluster) busChannel(app string) string { return c.base(app) + ":bus" }

// wireMessage is a Message on the wire; Payload is JSON already.
type wireMessage struct {
	Kind         MessageKind     `json:"k"`
	AppID        string          `json:"a"`
	Channel      string          `json:"c,omitempty"`
	Payload      json.RawMessage `json:"p,omitempty"`
	ExceptSocket string          `json:"x,omitempty"`
	UserID       string          `json:"u,omitempty"`
	Origin       string          `json:"o,omitempty"`
	Version      int64           `json:"v,omitempty"`
	SkipOrigin   bool            `json:"s,omitempty"`
}

// Start subscribes to every app's bus channel and starts the background work.
func (c *RedisCluster) Start(node string, deliver func(Message)) error {
	if node != "" {
		c.node = node
	}
	c.deliver = deliver
	log.Printf("scaling: node %s joins the cluster on Redis (prefix %q)", c.node, c.cfg.Prefix)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	subscribed := make(chan struct{})
	c.wg.Add(3)
	go c.subscribe(subscribed)
	go c.publishLoop()
	go c.workLoop()
	// Serve only once subscribed: pub/sub drops what arrives before.
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		log.Printf("scaling: not subscribed to Redis after 10 s; starting anyway, events from other nodes arrive once it is")
	}
	return nil
}

// Publish queues m for every node; it never blocks an event loop.
func (c *RedisCluster) Publish(m Message) error {
	if c.ctx == nil || c.ctx.Err() != nil {
		return errors.New("scaling bus is closed")
	}
	select {
	case c.outbox <- m:
		return nil
	default:
		return errors.New("scaling bus backlog is full: Redis is too slow or down")
	}
}

// Healthy reports whether Redis answered recently.
func (c *RedisCluster) Healthy() bool { return c.healthy.Load() }

// Close drains queued work and stops.
func (c *RedisCluster) Close() error {
	deadline := time.Now().Add(2 * time.Second)
	for (len(c.work) > 0 || len(c.outbox) > 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	c.conn.release()
	return nil
}

func (c *RedisCluster) publishCmd(m Message) rueidis.Completed {
	body, _ := json.Marshal(wireMessage{Kind: m.Kind, AppID: m.AppID, Channel: m.Channel, Payload: m.Payload,
		ExceptSocket: m.ExceptSocket, UserID: m.UserID, Origin: m.Origin, Version: m.Version, SkipOrigin: m.SkipOrigin})
	return c.client.B().Publish().Channel(c.busChannel(m.AppID)).Message(string(body)).Build()
}

func (c *RedisCluster) subscribe(subscribed chan struct{}) {
	defer c.wg.Done()
	channels := make([]string, len(c.apps))
	for i, a := range c.apps {
		channels[i] = c.busChannel(a)
	}
	var once sync.Once
	hooked := rueidis.WithOnSubscriptionHook(c.ctx, func(s rueidis.PubSubSubscription) {
		if s.Kind == "subscribe" && int(s.Count) == len(channels) {
			c.healthy.Store(true)
			once.Do(func() { close(subscribed) })
		}
	})
	backoff := 100 * time.Millisecond
	for c.ctx.Err() == nil {
		started := time.Now()
		err := c.client.Receive(hooked, c.client.B().Subscribe().Channel(channels...).Build(), func(msg rueidis.PubSubMessage) {
			var w wireMessage
			if json.Unmarshal([]byte(msg.Message), &w) != nil {
				return
			}
			c.deliver(Message{Kind: w.Kind, AppID: w.AppID, Channel: w.Channel, Payload: w.Payload,
				ExceptSocket: w.ExceptSocket, UserID: w.UserID, Origin: w.Origin, Version: w.Version, SkipOrigin: w.SkipOrigin})
		})
		if c.ctx.Err() != nil {
			return
		}
		if time.Since(started) > 5*time.Second {
			backoff = 100 * time.Millisecond
		}
		log.Printf("scaling: Redis subscription lost (%v); resubscribing in %v", err, backoff)
		c.markDown()
		sleepCtx(c.ctx, backoff)
		backoff = min(backoff*2, resubscribeMax)
	}
}

func (c *RedisCluster) markDown() {
	if c.healthy.Swap(false) {
		log.Printf("scaling: Redis unavailable; serving local sockets only until it returns")
	}
	c.conn.outage.Store(true)
}

// publishLoop sends queued messages in order, as many per round trip as
// have piled up, so the bus keeps up with bursts.
func (c *RedisCluster) publishLoop() {
	defer c.wg.Done()
	batch := make([]Message, 0, 256)
	cmds := make(rueidis.Commands, 0, 256)
	for {
		select {
		case <-c.ctx.Done():
			return
		case m := <-c.outbox:
			batch = append(batch[:0], m)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case m := <-c.outbox:
				batch = append(batch, m)
			default:
				break more
			}
		}
		cmds = cmds[:0]
		for _, m := range batch {
			cmds = append(cmds, c.publishCmd(m))
		}
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		results := c.client.DoMulti(ctx, cmds...)
		cancel()
		for i, r := range results {
			receivers, err := r.AsInt64()
			switch {
			case err != nil && errors.Is(err, context.DeadlineExceeded):
				// Redis may still have published it: delivering here too
				// could send it twice, so it is dropped and logged.
				log.Printf("scaling: publish to %s timed out; event %q may be lost", c.busChannel(batch[i].AppID), batch[i].Channel)
			case err != nil:
				// Redis is down: this node's own sockets still get it.
				c.markDown()
				c.deliver(batch[i])
			case receivers == 0:
				// Nobody was subscribed, not even this node (it is
				// resubscribing): at least its own sockets get it.
				c.deliver(batch[i])
			}
		}
	}
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

// cachePut stores a cache channel's last event for every node.
func (c *RedisCluster) cachePut(app, channel string, payload []byte, ttl time.Duration) error {
	ctx, cancel := c.timeout()
	defer cancel()
	return c.client.Do(ctx, c.client.B().Set().Key(c.base(app)+":cache:"+channel).Value(string(payload)).Px(ttl).Build()).Error()
}

// cacheGet reads a cache channel's last event through rueidis's client-side
// cache: Redis invalidates it on every change, so it is never stale; the
// local TTL only bounds memory.
func (c *RedisCluster) cacheGet(app, channel string) ([]byte, error) {
	ctx, cancel := c.timeout()
	defer cancel()
	b, err := c.client.DoCache(ctx, c.client.B().Get().Key(c.base(app)+":cache:"+channel).Cache(), time.Minute).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	return b, err
}

// resubscribeMax caps the wait between attempts to resubscribe.
const resubscribeMax = time.Second

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
