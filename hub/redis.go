package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// NewRedisShared builds every piece of state a node shares with the others
// (bus, cache of last events, presence, occupancy, liveness) over one Redis
// connection; the connection closes with the last of them.
func NewRedisShared(conn *RedisConn, appIDs []string) Options {
	bus := NewRedisBus(conn.client, conn.cfg, appIDs)
	// A failing bus means Redis is failing: presence registers its share
	// again once it answers.
	bus.onDown = func() { conn.failed("the event bus", errBusDown) }
	conn.acquire()
	return Options{
		Bus:       &connBus{RedisBus: bus, conn: conn},
		Cache:     NewRedisCache(conn.client, conn.cfg),
		Presence:  NewRedisPresence(conn, appIDs),
		Occupancy: NewRedisOccupancy(conn, appIDs),
		Liveness:  NewRedisLiveness(conn),
	}
}

var errBusDown = errors.New("reading or appending events failed")

// connBus is the RedisBus holding its share of the node's connection.
type connBus struct {
	*RedisBus
	conn *RedisConn
}

func (b *connBus) Close() error {
	err := b.RedisBus.Close()
	b.conn.release()
	return err
}

// resubscribeMax caps the wait between attempts to resubscribe.
const resubscribeMax = time.Second

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
