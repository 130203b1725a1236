package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/resound/resound/internal/redistest"
)

// newStores returns n stores sharing one queue (n nodes of a cluster, or
// the one memory store n times) and a counter of what they dropped.
type newStores func(t *testing.T, n, capacity int) ([]Store, *atomic.Int64)

// takeAll takes from s until want events came or the deadline passed.
func takeAll(t *testing.T, s Store, want int, within time.Duration) []Entry {
	t.Helper()
	var got []Entry
	deadline := time.Now().Add(within)
	for len(got) < want && time.Now().Before(deadline) {
		es, err := s.Take(context.Background(), 100, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, es...)
	}
	return got
}

func names(es []Entry) string {
	out := ""
	for _, e := range es {
		out += e.Event.Name + ":" + e.Event.Channel + e.Event.UserID + " "
	}
	return out
}

func StoreContract(t *testing.T, stores newStores) {
	ctx := context.Background()
	t.Run("queued events come out once, in order", func(t *testing.T) {
		ss, _ := stores(t, 2, 100)
		evs := []Event{{App: "a", Name: ClientEvent, Channel: "private-1", Event: "client-x", Data: "1"},
			{App: "a", Name: CacheMiss, Channel: "cache-1"}, {App: "b", Name: ChannelOccupied, Channel: "c"}}
		if err := ss[0].Add(ctx, evs, time.Second); err != nil {
			t.Fatal(err)
		}
		got := takeAll(t, ss[1], 3, 5*time.Second)
		if names(got) != "client_event:private-1 cache_miss:cache-1 channel_occupied:c " || got[0].Event.Data != "1" || got[2].Event.App != "b" {
			t.Fatalf("took %q", names(got))
		}
		if err := ss[1].Done(ctx, got); err != nil {
			t.Fatal(err)
		}
		// The same node again: with Redis only one node at a time reads.
		if more := takeAll(t, ss[1], 1, 300*time.Millisecond); len(more) != 0 {
			t.Fatalf("taken again: %s", names(more))
		}
	})
	t.Run("a removal waits for the delay; coming back in time drops both, on any node", func(t *testing.T) {
		ss, _ := stores(t, 2, 100)
		delay := 400 * time.Millisecond
		start := time.Now()
		_ = ss[0].Add(ctx, []Event{{App: "a", Name: MemberRemoved, Channel: "presence-r", UserID: "u1"},
			{App: "a", Name: ChannelVacated, Channel: "presence-r"},
			{App: "a", Name: MemberRemoved, Channel: "presence-r", UserID: "u2"}}, delay)
		// u1 comes back (on another node) and the channel is occupied again.
		_ = ss[1].Add(ctx, []Event{{App: "a", Name: ChannelOccupied, Channel: "presence-r"},
			{App: "a", Name: MemberAdded, Channel: "presence-r", UserID: "u1"},
			{App: "a", Name: MemberAdded, Channel: "presence-r", UserID: "u3"}}, delay)
		first := takeAll(t, ss[1], 1, 5*time.Second)
		if names(first) != "member_added:presence-ru3 " {
			t.Fatalf("first out: %q, want only u3's arrival", names(first))
		}
		_ = ss[1].Done(ctx, first)
		// With Redis, node 0 reads once node 1 leaves and gives the lease up.
		_ = ss[1].Close()
		late := takeAll(t, ss[0], 1, 10*time.Second)
		if names(late) != "member_removed:presence-ru2 " {
			t.Fatalf("after the delay: %q, want only u2's leave", names(late))
		}
		if waited := time.Since(start); waited < delay {
			t.Fatalf("u2's leave came after %v, before the delay of %v", waited, delay)
		}
		_ = ss[0].Done(ctx, late)
		if more := takeAll(t, ss[0], 1, 2*delay); len(more) != 0 {
			t.Fatalf("cancelled events came out: %s", names(more))
		}
	})
	t.Run("no delay sends removals at once", func(t *testing.T) {
		ss, _ := stores(t, 1, 100)
		_ = ss[0].Add(ctx, []Event{{App: "a", Name: ChannelVacated, Channel: "c"}, {App: "a", Name: ChannelOccupied, Channel: "c"}}, 0)
		if got := takeAll(t, ss[0], 2, 5*time.Second); names(got) != "channel_vacated:c channel_occupied:c " {
			t.Fatalf("took %q", names(got))
		}
	})
	t.Run("a full queue drops the oldest and counts it", func(t *testing.T) {
		ss, dropped := stores(t, 1, 3)
		for i := range 5 {
			_ = ss[0].Add(ctx, []Event{{App: "a", Name: CacheMiss, Channel: fmt.Sprint("c", i)}}, 0)
		}
		got := takeAll(t, ss[0], 3, 5*time.Second)
		if names(got) != "cache_miss:c2 cache_miss:c3 cache_miss:c4 " || dropped.Load() != 2 {
			t.Fatalf("took %q, dropped %d; want the last 3 and 2 dropped", names(got), dropped.Load())
		}
	})
}

func TestMemoryStoreContract(t *testing.T) {
	StoreContract(t, func(t *testing.T, n, capacity int) ([]Store, *atomic.Int64) {
		var dropped atomic.Int64
		s := NewMemoryStore(capacity, func(n int) { dropped.Add(int64(n)) })
		out := make([]Store, n)
		for i := range out {
			out[i] = s
		}
		return out, &dropped
	})
}

func redisStores(t *testing.T, claimAfter time.Duration) newStores {
	addr := startRedis(t)
	k := 0
	return func(t *testing.T, n, capacity int) ([]Store, *atomic.Int64) {
		k++
		var dropped atomic.Int64
		out := make([]Store, n)
		for i := range out {
			c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
			if err != nil {
				t.Fatal(err)
			}
			out[i] = NewRedisStore(c, fmt.Sprint("test", k), fmt.Sprint("node-", i), capacity, claimAfter, c.Close, func(n int) { dropped.Add(int64(n)) })
			t.Cleanup(func() { _ = out[i].Close() })
		}
		return out, &dropped
	}
}

func TestRedisStoreContract(t *testing.T) {
	StoreContract(t, redisStores(t, time.Minute))
}

func TestRedisStoreHandsADeadNodesBatchToAnother(t *testing.T) {
	ctx := context.Background()
	claimAfter := 500 * time.Millisecond
	ss, _ := redisStores(t, claimAfter)(t, 2, 100)
	_ = ss[0].Add(ctx, []Event{{App: "a", Name: ChannelOccupied, Channel: "kept"}}, 0)
	kept := takeAll(t, ss[0], 1, 5*time.Second)
	_ = ss[0].Add(ctx, []Event{{App: "a", Name: ChannelOccupied, Channel: "orphan"}}, 0)
	orphan := takeAll(t, ss[0], 1, 5*time.Second)
	if names(kept)+names(orphan) != "channel_occupied:kept channel_occupied:orphan " {
		t.Fatalf("node 0 took %q %q", names(kept), names(orphan))
	}
	// While node 0 lives it keeps the lease and what it took, however
	// long it sends without taking more: neither node 1 nor node 0 itself
	// takes it again.
	if got := takeAll(t, ss[1], 1, leaseFor+time.Second); len(got) != 0 {
		t.Fatalf("node 1 took %q from a live node", names(got))
	}
	if got := takeAll(t, ss[0], 1, 4*claimAfter); len(got) != 0 {
		t.Fatalf("node 0 took its own %q again", names(got))
	}
	_ = ss[0].Done(ctx, kept)
	// Node 0 now stops with "orphan" unsent: node 1 takes it over.
	_ = ss[0].Close()
	claimed := takeAll(t, ss[1], 1, 10*time.Second)
	if names(claimed) != "channel_occupied:orphan " || claimed[0].ID != orphan[0].ID {
		t.Fatalf("node 1 claimed %q, want the orphaned batch", names(claimed))
	}
	_ = ss[1].Done(ctx, claimed)
	if again := takeAll(t, ss[1], 1, 3*claimAfter); len(again) != 0 {
		t.Fatalf("claimed again after done: %q", names(again))
	}
}

// A node whose lease was taken over (it stalled, or Redis lost the key)
// stops sending what it took and takes nothing new.
func TestRedisStoreNodeThatLostTheLeaseStops(t *testing.T) {
	ctx := context.Background()
	ss, _ := redisStores(t, time.Minute)(t, 2, 100)
	_ = ss[0].Add(ctx, []Event{{App: "a", Name: ChannelOccupied, Channel: "c1"}}, 0)
	took := takeAll(t, ss[0], 1, 5*time.Second)
	if err := ss[0].Keep(ctx, took); err != nil {
		t.Fatalf("keep while holding the lease: %v", err)
	}
	r := ss[0].(*RedisStore)
	if err := r.client.Do(ctx, r.client.B().Set().Key(r.lease).Value("node-1").Px(leaseFor).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(leaseFor + 2*time.Second)
	for !errors.Is(ss[0].Keep(ctx, took), ErrLeaseLost) {
		if time.Now().After(deadline) {
			t.Fatal("node 0 still counts on a lease node-1 holds")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = ss[0].Add(ctx, []Event{{App: "a", Name: ChannelOccupied, Channel: "c2"}}, 0)
	if got := takeAll(t, ss[0], 1, time.Second); len(got) != 0 {
		t.Fatalf("node 0 took %q without the lease", names(got))
	}
}

// startRedis runs a throwaway redis-server on a free port (see redistest).
func startRedis(t *testing.T) string {
	t.Helper()
	addr, _ := redistest.Start(t)
	return addr
}

// A node whose lease lapsed for a moment (a slow renewal) and came back
// still has its taken batches queued: it must not claim them again once
// they have been idle for claimAfter (they would be sent twice, the copy
// after newer events).
func TestRedisStoreBriefLeaseLapseTakesNothingTwice(t *testing.T) {
	ctx := context.Background()
	claimAfter := 400 * time.Millisecond
	ss, _ := redisStores(t, claimAfter)(t, 1, 100)
	r := ss[0].(*RedisStore)
	_ = r.Add(ctx, []Event{{App: "a", Name: ChannelOccupied, Channel: "queued"}}, 0)
	took := takeAll(t, r, 1, 5*time.Second)
	// The lease lapses by this node's clock for longer than the keeper's
	// tick, then the node takes it back.
	r.mu.Lock()
	r.leaseUntil = time.Time{}
	r.mu.Unlock()
	time.Sleep(claimAfter + 300*time.Millisecond)
	if got := takeAll(t, r, 1, 3*claimAfter+time.Second); len(got) != 0 {
		t.Fatalf("after a lease lapse the node took its own queued %q again", names(got))
	}
	if err := r.Keep(ctx, took); err != nil {
		t.Fatalf("the queued batch is still this node's to send: %v", err)
	}
	_ = r.Done(ctx, took)
}
