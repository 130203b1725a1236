package hub

import (
	"context"
	"sync"
	"time"
)

// EventCache keeps the last event published through the HTTP API on each
// cache channel, for a TTL, also while nobody is subscribed (as Pusher
// does), for every node of a cluster.
type EventCache interface {
	// Put stores payload, at order in bus order, as the channel's last
	// event for ttl, unless the channel already holds a later one.
	Put(ctx context.Context, appID, channel string, payload []byte, order Order, ttl time.Duration) error
	// Get returns the channel's last event and its order, or nil when there
	// is none or it expired.
	Get(ctx context.Context, appID, channel string) ([]byte, Order, error)
}

// busStoredCache is an EventCache that the bus itself writes, atomically with
// the publish and in bus order (RedisCache with RedisBus): nobody else Puts.
type busStoredCache interface{ storedByBus() }

// MemoryCache is the EventCache of a single node.
type MemoryCache struct {
	mu      sync.Mutex
	entries map[cacheKey]memoryEntry
	// now is time.Now, replaceable by tests.
	now func() time.Time
}

type cacheKey struct{ app, channel string }

type memoryEntry struct {
	payload []byte
	order   Order
	expires time.Time
}

// NewMemoryCache returns an empty single-node cache.
func NewMemoryCache() *MemoryCache { return &MemoryCache{entries: map[cacheKey]memoryEntry{}} }

func (c *MemoryCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *MemoryCache) Put(_ context.Context, appID, channel string, payload []byte, order Order, ttl time.Duration) error {
	now := c.clock()
	k := cacheKey{appID, channel}
	c.mu.Lock()
	if e, ok := c.entries[k]; !ok || !now.Before(e.expires) || !e.order.After(order) {
		c.entries[k] = memoryEntry{payload, order, now.Add(ttl)}
	}
	c.mu.Unlock()
	return nil
}

func (c *MemoryCache) Get(_ context.Context, appID, channel string) ([]byte, Order, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{appID, channel}
	e, ok := c.entries[k]
	if !ok {
		return nil, Order{}, nil
	}
	if !c.clock().Before(e.expires) {
		delete(c.entries, k)
		return nil, Order{}, nil
	}
	return e.payload, e.order, nil
}

// Sweep drops expired entries.
func (c *MemoryCache) Sweep(now time.Time) {
	c.mu.Lock()
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
}

// lastFrame is the last cached event this node delivered on a channel with
// local subscribers, kept on the channel (so it goes with the channel's last
// subscriber; the shared cache serves everyone else) as the very frame that
// was broadcast, so a replay needs no round trip to the shared cache.
type lastFrame struct {
	frame   []byte
	order   Order
	expires time.Time
}
