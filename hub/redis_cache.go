package hub

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/redis/rueidis"
)

// RedisCache is the EventCache of a cluster: one key per cache channel,
// expiring with the TTL, holding "<stream entry id>.<position> <payload>". RedisBus
// writes it in the same script as the stream entry, so it always holds the
// latest event in stream order. Reads go through rueidis's client-side
// cache after a fence (see RedisConn.fence): never stale, and a repeated
// read moves no data.
type RedisCache struct {
	client rueidis.Client
	prefix string
}

// NewRedisCache returns the cluster's event cache over client; it does not
// own the client.
func NewRedisCache(client rueidis.Client, cfg RedisConfig) *RedisCache {
	if cfg.Prefix == "" {
		cfg.Prefix = "resound"
	}
	return &RedisCache{client: client, prefix: cfg.Prefix}
}

func (c *RedisCache) storedByBus() {}

// redisCacheKey is where a cache channel's last event lives.
func redisCacheKey(prefix, app, channel string) string {
	return prefix + ":" + app + ":cache:" + channel
}

// Put is what the bus's publish script does; the hub never calls it with
// a RedisBus. It does not check order: the script is what keeps order.
func (c *RedisCache) Put(ctx context.Context, appID, channel string, payload []byte, order Order, ttl time.Duration) error {
	value := order.String() + " " + string(payload)
	return c.client.Do(ctx, c.client.B().Set().Key(redisCacheKey(c.prefix, appID, channel)).Value(value).Px(ttl).Build()).Error()
}

// clientCacheTTL only bounds how long this node keeps a key it read:
// invalidation, not this TTL, keeps it fresh; Redis's own PTTL caps it too.
const clientCacheTTL = time.Minute

func (c *RedisCache) Get(ctx context.Context, appID, channel string) ([]byte, Order, error) {
	if err := fence(ctx, c.client); err != nil {
		return nil, Order{}, err
	}
	b, err := c.client.DoCache(ctx, c.client.B().Get().Key(redisCacheKey(c.prefix, appID, channel)).Cache(), clientCacheTTL).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, Order{}, nil
	}
	if err != nil {
		return nil, Order{}, err
	}
	id, payload, found := bytes.Cut(b, []byte{' '})
	order, ok := parseOrder(string(id))
	if !found || !ok {
		return nil, Order{}, errors.New("cache: unreadable entry (written by an older version?); ignored")
	}
	return payload, order, nil
}
