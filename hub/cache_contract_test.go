package hub

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// CacheContract is what every EventCache must do. newCache returns caches
// sharing one backend (what one node stores, another reads).
func CacheContract(t *testing.T, newCache func(t *testing.T) EventCache) {
	ctx := context.Background()
	t.Run("a stored event is read back, by every node", func(t *testing.T) {
		a, b := newCache(t), newCache(t)
		if err := a.Put(ctx, "app", "cache-x", []byte(`{"event":"e1"}`), Order{Ms: 1700000000000, Seq: 3}, time.Minute); err != nil {
			t.Fatal(err)
		}
		for i, c := range []EventCache{a, b} {
			if p, order, err := c.Get(ctx, "app", "cache-x"); err != nil || string(p) != `{"event":"e1"}` || order != (Order{Ms: 1700000000000, Seq: 3}) {
				t.Fatalf("cache %d read %q at %v, %v", i, p, order, err)
			}
		}
	})
	// The API's info=cache right after another node's publish must see it:
	// a read that follows a write is never stale, with no retry.
	t.Run("a read right after another node's put sees it, also for a node that read the older one", func(t *testing.T) {
		a, b := newCache(t), newCache(t)
		for i := 1; i <= 50; i++ {
			want := strconv.Itoa(i)
			if err := a.Put(ctx, "app", "cache-y", []byte(want), Order{Seq: uint64(i)}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if p, _, err := b.Get(ctx, "app", "cache-y"); err != nil || string(p) != want {
				t.Fatalf("read %q, %v right after the put of %s: stale", p, err, want)
			}
		}
	})
	t.Run("unknown channel, other app: nothing", func(t *testing.T) {
		a := newCache(t)
		_ = a.Put(ctx, "app", "cache-z", []byte(`1`), Order{Seq: 1}, time.Minute)
		if p, _, err := a.Get(ctx, "other", "cache-z"); err != nil || p != nil {
			t.Fatalf("other app read %q, %v", p, err)
		}
		if p, _, err := a.Get(ctx, "app", "cache-none"); err != nil || p != nil {
			t.Fatalf("unknown channel read %q, %v", p, err)
		}
	})
	t.Run("an entry expires with its TTL", func(t *testing.T) {
		a := newCache(t)
		_ = a.Put(ctx, "app", "cache-ttl", []byte(`1`), Order{Seq: 1}, 150*time.Millisecond)
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, _, err := a.Get(ctx, "app", "cache-ttl")
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

// A put that comes late (a slow writer) never replaces a later event.
func TestMemoryCacheKeepsTheLaterEvent(t *testing.T) {
	c := NewMemoryCache()
	ctx := context.Background()
	_ = c.Put(ctx, "app", "cache-x", []byte("new"), Order{Seq: 2}, time.Minute)
	_ = c.Put(ctx, "app", "cache-x", []byte("old"), Order{Seq: 1}, time.Minute)
	if p, order, _ := c.Get(ctx, "app", "cache-x"); string(p) != "new" || order != (Order{Seq: 2}) {
		t.Fatalf("read %q at %v, want the later event", p, order)
	}
}
