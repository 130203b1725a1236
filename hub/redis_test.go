package hub

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/resound/resound/internal/redistest"
)

// startRedis runs a throwaway redis-server on a free port (see redistest).
func startRedis(t *testing.T) string {
	t.Helper()
	addr, _ := redistest.Start(t)
	return addr
}

// startRedisProcess also returns the process, for tests that hang it.
func startRedisProcess(t *testing.T) (string, *os.Process) {
	t.Helper()
	return redistest.Start(t)
}

func redisClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	c, err := NewRedisConn(RedisConfig{URL: "redis://" + addr + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.client.Close)
	return c.client
}

func TestRedisBusContract(t *testing.T) {
	addr := startRedis(t)
	BusContract(t, 3, func(t *testing.T) Bus {
		return NewRedisBus(redisClient(t, addr), RedisConfig{Prefix: "contract-" + t.Name()}, []string{"a", "app"})
	})
}

// The bus a node really runs: the one NewRedisShared wires to the node's
// connection.
func TestRedisSharedBusContract(t *testing.T) {
	addr := startRedis(t)
	n := 0
	BusContract(t, 3, func(t *testing.T) Bus {
		n++
		conn, err := NewRedisConn(RedisConfig{URL: "redis://" + addr + "/0", Prefix: fmt.Sprintf("contract-%s", t.Name())})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.client.Close)
		return NewRedisShared(conn, []string{"a", "app"}).Bus
	})
}

func TestRedisCacheContract(t *testing.T) {
	addr := startRedis(t)
	CacheContract(t, func(t *testing.T) EventCache {
		return NewRedisCache(redisClient(t, addr), RedisConfig{Prefix: "cache"})
	})
}

func TestRedisPrefixesAreIsolated(t *testing.T) {
	addr := startRedis(t)
	got := make(chan string, 10)
	mk := func(prefix string) Bus {
		conn, err := NewRedisConn(RedisConfig{URL: "redis://" + addr + "/0", Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.client.Close)
		rc := NewRedisShared(conn, []string{"app"}).Bus
		if err := rc.Start(prefix, func(m Message) { got <- prefix + ":" + string(m.Payload) }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rc.Close() })
		return rc
	}
	a, _ := mk("one"), mk("two")
	time.Sleep(200 * time.Millisecond) // both subscribed
	if err := a.Publish(Message{Kind: KindEvent, AppID: "app", Channel: "c", Payload: []byte(`"x"`)}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != `one:"x"` {
			t.Fatalf("wrong cluster got it: %s", m)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("not delivered")
	}
	select {
	case m := <-got:
		t.Fatalf("leaked across prefixes: %s", m)
	case <-time.After(300 * time.Millisecond):
	}
}
