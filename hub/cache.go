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
	// Put stores payload as the channel's last event for ttl.
	Put(ctx context.Context, appID, channel string, payload []byte, ttl time.Duration) error
	// Get returns the channel's last event, or nil when there is none or it
	// expired.
	Get(ctx context.Context, appID, channel string) ([]byte, error)
}

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

func (c *MemoryCache) Put(_ context.Context, appID, channel string, payload []byte, ttl time.Duration) error {
	c.mu.Lock()
	c.entries[cacheKey{appID, channel}] = memoryEntry{payload, c.clock().Add(ttl)}
	c.mu.Unlock()
	return nil
}

func (c *MemoryCache) Get(_ context.Context, appID, channel string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{appID, channel}
	e, ok := c.entries[k]
	if !ok {
		return nil, nil
	}
	if !c.clock().Before(e.expires) {
		delete(c.entries, k)
		return nil, nil
	}
	return e.payload, nil
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

// lastFrames is this node's copy of the last cached event it delivered on
// each cache channel, kept as the very frame that was broadcast, so a
// subscriber that got it by replay can recognise (and skip) the broadcast
// copy, and a replay needs no round trip to the shared cache.
type lastFrames struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]lastFrame
}

type lastFrame struct {
	frame   []byte
	expires time.Time
}

func (c *lastFrames) put(channel string, frame []byte, now time.Time) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]lastFrame{}
	}
	c.entries[channel] = lastFrame{frame, now.Add(c.ttl)}
	c.mu.Unlock()
}

func (c *lastFrames) get(channel string, now time.Time) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[channel]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		delete(c.entries, channel)
		return nil
	}
	return e.frame
}

func (c *lastFrames) sweep(now time.Time) {
	c.mu.Lock()
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
}
