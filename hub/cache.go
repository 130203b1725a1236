package hub

import (
	"sync"
	"time"
)

// eventCache keeps the last event of each cache channel for a TTL, also
// while nobody is subscribed, as Pusher does.
type eventCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]cached
}

// cached keeps the event's frame too: the very bytes being broadcast, so a
// subscriber that got it by replay can recognise the broadcast copy.
type cached struct {
	payload, frame []byte
	expires        time.Time
}

func (c *eventCache) put(channel string, payload, frame []byte, now time.Time) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]cached{}
	}
	c.entries[channel] = cached{payload, frame, now.Add(c.ttl)}
	c.mu.Unlock()
}

func (c *eventCache) get(channel string, now time.Time) (payload, frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[channel]
	if !ok {
		return nil, nil
	}
	if now.After(e.expires) {
		delete(c.entries, channel)
		return nil, nil
	}
	return e.payload, e.frame
}

func (c *eventCache) sweep(now time.Time) {
	c.mu.Lock()
	for k, e := range c.entries {
		if now.After(e.expires) {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
}
