package hub

import (
	"context"
	"testing"
	"time"
)

// CacheContract is what every EventCache must do. newCache returns caches
// sharing one backend (what one node stores, another reads).
func CacheContract(t *testing.T, newCache func(t *testing.T) EventCache) {
	ctx := context.Background()
	t.Run("a stored event is read back, by every node", func(t *testing.T) {
		a, b := newCache(t), newCache(t)
		if err := a.Put(ctx, "app", "cache-x", []byte(`{"event":"e1"}`), time.Minute); err != nil {
			t.Fatal(err)
		}
		for i, c := range []EventCache{a, b} {
			if p, err := c.Get(ctx, "app", "cache-x"); err != nil || string(p) != `{"event":"e1"}` {
				t.Fatalf("cache %d read %q, %v", i, p, err)
			}
		}
	})
	t.Run("the last put wins, also for a node that read the older one", func(t *testing.T) {
		a, b := newCache(t), newCache(t)
		_ = a.Put(ctx, "app", "cache-y", []byte(`1`), time.Minute)
		if p, _ := b.Get(ctx, "app", "cache-y"); string(p) != "1" {
			t.Fatalf("read %q, want 1", p)
		}
		_ = a.Put(ctx, "app", "cache-y", []byte(`2`), time.Minute)
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, _ := b.Get(ctx, "app", "cache-y")
			if string(p) == "2" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still reads %q after the put of 2: stale", p)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("unknown channel, other app: nothing", func(t *testing.T) {
		a := newCache(t)
		_ = a.Put(ctx, "app", "cache-z", []byte(`1`), time.Minute)
		if p, err := a.Get(ctx, "other", "cache-z"); err != nil || p != nil {
			t.Fatalf("other app read %q, %v", p, err)
		}
		if p, err := a.Get(ctx, "app", "cache-none"); err != nil || p != nil {
			t.Fatalf("unknown channel read %q, %v", p, err)
		}
	})
	t.Run("an entry expires with its TTL", func(t *testing.T) {
		a := newCache(t)
		_ = a.Put(ctx, "app", "cache-ttl", []byte(`1`), 150*time.Millisecond)
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, err := a.Get(ctx, "app", "cache-ttl")
			if err != nil {
				t.Fatal(err)
			}
			if p == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("entry never expired")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestMemoryCacheContract(t *testing.T) {
	shared := NewMemoryCache()
	CacheContract(t, func(*testing.T) EventCache { return shared })
}
