package hub

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// RedisCache is the EventCache of a cluster: one key per cache channel,
// expiring with the TTL. Reads go through rueidis's client-side cache:
// Redis invalidates a key this node read as soon as it changes, so a
// repeated read costs no round trip and is never stale.
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

func (c *RedisCache) key(app, channel string) string {
	return c.prefix + ":" + app + ":cache:" + channel
}

func (c *RedisCache) Put(ctx context.Context, appID, channel string, payload []byte, ttl time.Duration) error {
	return c.client.Do(ctx, c.client.B().Set().Key(c.key(appID, channel)).Value(rueidis.BinaryString(payload)).Px(ttl).Build()).Error()
}

// clientCacheTTL only bounds how long this node keeps a key it read:
// invalidation, not this TTL, keeps it fresh; Redis's own PTTL caps it too.
const clientCacheTTL = time.Minute

func (c *RedisCache) Get(ctx context.Context, appID, channel string) ([]byte, error) {
	b, err := c.client.DoCache(ctx, c.client.B().Get().Key(c.key(appID, channel)).Cache(), clientCacheTTL).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	return b, err
}
