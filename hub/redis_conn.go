package hub

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// RedisConn is a node's one connection to Redis, shared by every Redis
// implementation of the hub's interfaces. It also tracks outages: any of
// them that sees Redis fail records it, and the Liveness asks the hub to
// register its share again once Redis answers.
type RedisConn struct {
	cfg    RedisConfig
	client rueidis.Client

	// outage is set by a failed call and taken by the heartbeat that sees
	// Redis answer again.
	outage atomic.Bool
	// down is set by a failed call and cleared by the next heartbeat that
	// gets an answer; meanwhile joins and leaves fail at once rather than
	// each waiting out a timeout.
	down  atomic.Bool
	users atomic.Int32

	logMu   sync.Mutex
	lastLog time.Time
}

// NewRedisConn connects to Redis; it retries for up to 30 s so a node and
// its Redis can start together.
func NewRedisConn(cfg RedisConfig) (*RedisConn, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "resound"
	}
	if cfg.NodeTimeout <= 0 {
		cfg.NodeTimeout = 10
	}
	opt, err := cfg.clientOption()
	if err != nil {
		return nil, err
	}
	var client rueidis.Client
	deadline := time.Now().Add(30 * time.Second)
	for {
		client, err = rueidis.NewClient(opt)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("scaling: cannot reach Redis at %v: %w (check REDIS_HOST/REDIS_PORT or scaling.url)", opt.InitAddress, err)
		}
		log.Printf("scaling: Redis at %v not reachable yet (%v), retrying", opt.InitAddress, err)
		time.Sleep(500 * time.Millisecond)
	}
	return &RedisConn{cfg: cfg, client: client}, nil
}

// base is the key prefix of one app.
func (c *RedisConn) base(app string) string { return c.cfg.Prefix + ":" + app }

// failed records that Redis did not answer; the log is rate-limited so an
// outage does not flood it.
func (c *RedisConn) failed(what string, err error) {
	countRedisError(RedisState)
	c.outage.Store(true)
	c.down.Store(true)
	c.logMu.Lock()
	defer c.logMu.Unlock()
	if time.Since(c.lastLog) >= 5*time.Second {
		c.lastLog = time.Now()
		log.Printf("scaling: %s failed: %v (serving local sockets; the cluster state is repaired when Redis answers)", what, err)
	}
}

// errRedisDown fails a call made while Redis is known to be unreachable.
var errRedisDown = errors.New("Redis is unreachable")

// usable reports errRedisDown while Redis is known to be unreachable.
func (c *RedisConn) usable() error {
	if c.down.Load() {
		return errRedisDown
	}
	return nil
}

// fence makes the client-side cache reflect every write that happened
// before it was called, on any node: Redis queues a write's invalidation
// for this connection before it answers the writer, and answers this PING
// after that on the same connection (a standalone client sends cached and
// plain commands over one), so once PING returns the invalidation has been
// applied. A cached read after it costs no data transfer when nothing
// changed, and is never stale.
func (c *RedisConn) fence(ctx context.Context) error { return fence(ctx, c.client) }

func fence(ctx context.Context, client rueidis.Client) error {
	return client.Do(ctx, client.B().Ping().Build()).Error()
}

func (c *RedisConn) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*time.Second)
}

// acquire and release count the implementations using the connection; the
// last one to close it disconnects.
func (c *RedisConn) acquire() { c.users.Add(1) }
func (c *RedisConn) release() {
	if c.users.Add(-1) == 0 {
		c.client.Close()
	}
}

// runSubscription keeps a pub/sub subscription to channel until ctx ends,
// resubscribing with backoff; ready is closed once first subscribed. A lost
// subscription may have missed messages, so it counts as an outage.
func (c *RedisConn) runSubscription(ctx context.Context, channel string, ready chan struct{}, handle func(string)) {
	var once sync.Once
	hooked := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		if s.Kind == "subscribe" {
			once.Do(func() { close(ready) })
		}
	})
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := c.client.Receive(hooked, c.client.B().Subscribe().Channel(channel).Build(), func(m rueidis.PubSubMessage) {
			handle(m.Message)
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 5*time.Second {
			backoff = 100 * time.Millisecond
		}
		c.failed("subscription to "+channel, err)
		sleepCtx(ctx, backoff)
		backoff = min(backoff*2, resubscribeMax)
	}
}

// Share lends the connection to a user outside the hub (the webhook
// queue): it returns the client, the key prefix, and the release to call
// when done; the last user to release disconnects.
func (c *RedisConn) Share() (client rueidis.Client, prefix string, release func()) {
	c.acquire()
	return c.client, c.cfg.Prefix, c.release
}
