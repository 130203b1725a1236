package hub

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// A publish that times out while Redis hangs is delivered nowhere, also
// once Redis resumes and runs it; what was published before and after is
// delivered once, in order, without any node losing its place.
func TestRedisBusHungRedisDropsTimedOutPublish(t *testing.T) {
	addr, proc := startRedisProcess(t)
	cfg := RedisConfig{Prefix: "hung", PublishTimeoutMs: 400}
	buses := make([]Bus, 2)
	boxes := make([]*inbox, 2)
	for i := range buses {
		buses[i] = NewRedisBus(redisClient(t, addr), cfg, []string{"a"})
		boxes[i] = &inbox{}
		if err := buses[i].Start(fmt.Sprint("n", i), boxes[i].add); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = buses[i].Close() })
	}
	pub := func(b Bus, p string) error {
		return b.PublishWait(context.Background(), []Message{{Kind: KindEvent, AppID: "a", Channel: "c", Payload: []byte(p)}})
	}
	if err := pub(buses[0], "1"); err != nil {
		t.Fatal(err)
	}
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = proc.Signal(syscall.SIGCONT)
		}
	}()
	started := time.Now()
	err := pub(buses[1], `"lost"`)
	if err == nil {
		t.Fatal("a publish to a hung Redis succeeded")
	}
	t.Logf("publish to a hung Redis failed after %v: %v", time.Since(started), err)
	if !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("a publish sent to a hung Redis must be reported as not confirmed (the API answers 504), got %v", err)
	}
	if took := time.Since(started); took > 2*time.Second {
		t.Fatalf("the publish failed only after %v; the timeout is 400ms", took)
	}
	_ = proc.Signal(syscall.SIGCONT)
	resumed = true
	// Redis now runs the publish that sat in its socket buffer: past its
	// deadline, it must drop it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := pub(buses[1], "2"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("Redis never took a publish again: %v", err)
		}
	}
	if err := pub(buses[0], "3"); err != nil {
		t.Fatal(err)
	}
	for i, box := range boxes {
		got := box.waitFor(t, 3)
		time.Sleep(100 * time.Millisecond)
		got = box.payloads()
		if fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("node %d got %v, want [1 2 3] (the timed-out publish nowhere)", i, got)
		}
	}
}

func TestRedisBusPublishFailsFastWithoutRedis(t *testing.T) {
	addr, proc := startRedisProcess(t)
	b := NewRedisBus(redisClient(t, addr), RedisConfig{Prefix: "gone", PublishTimeoutMs: 500}, []string{"a"})
	if err := b.Start("n", func(Message) {}); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = proc.Kill()
	_, _ = proc.Wait()
	err := b.PublishWait(context.Background(), []Message{{Kind: KindEvent, AppID: "a", Payload: []byte(`1`)}})
	if err == nil {
		t.Fatal("publish without Redis succeeded")
	}
	if errors.Is(err, errBusClosed) {
		t.Fatalf("wrong error: %v", err)
	}
	// Publishes on the connection Redis dropped fail as not confirmed (EOF:
	// Redis may have run them); once a new connection is refused, the
	// publish was never sent: a plain refusal (503).
	deadline := time.Now().Add(5 * time.Second)
	for errors.Is(err, ErrUnconfirmed) && time.Now().Before(deadline) {
		err = b.PublishWait(context.Background(), []Message{{Kind: KindEvent, AppID: "a", Payload: []byte(`2`)}})
	}
	if err == nil || errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("a publish with Redis gone for good must be refused as never sent, got %v", err)
	}
}

// Two nodes publishing to one cache channel at once: the shared cache ends
// with the last entry of the stream, with its id, never an older one.
func TestRedisBusStoresTheCacheInStreamOrder(t *testing.T) {
	addr := startRedis(t)
	cfg := RedisConfig{Prefix: "order"}
	client := redisClient(t, addr)
	buses := make([]*RedisBus, 2)
	for i := range buses {
		buses[i] = NewRedisBus(redisClient(t, addr), cfg, []string{"a"})
		if err := buses[i].Start(fmt.Sprint("n", i), func(Message) {}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = buses[i].Close() })
	}
	const each = 200
	errs := make(chan error, 2)
	for i, b := range buses {
		go func() {
			for j := 0; j < each; j++ {
				p := fmt.Sprintf(`"%d-%d"`, i, j)
				err := b.PublishWait(context.Background(), []Message{{Kind: KindEvent, AppID: "a", Channel: "cache-x", Payload: []byte(p), Cached: true, CacheTTL: time.Minute}})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range buses {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	last, err := client.Do(context.Background(), client.B().Xrevrange().Key("order:a:stream").End("+").Start("-").Count(1).Build()).AsXRange()
	if err != nil || len(last) != 1 {
		t.Fatalf("reading the stream: %v", err)
	}
	var entry []wireMessage
	if err := json.Unmarshal([]byte(last[0].FieldValues["m"]), &entry); err != nil {
		t.Fatal(err)
	}
	cache := NewRedisCache(client, cfg)
	p, order, err := cache.Get(context.Background(), "a", "cache-x")
	if err != nil {
		t.Fatal(err)
	}
	if order.String() != last[0].ID+".0" || string(p) != string(entry[0].Payload) {
		t.Fatalf("cache holds %s at %v; the stream ends with %s at %s", p, order, entry[0].Payload, last[0].ID)
	}
}

// Two events on one channel in one publish: the cache holds the second.
func TestRedisBusCachesTheLastEventOfAnEntry(t *testing.T) {
	addr := startRedis(t)
	cfg := RedisConfig{Prefix: "batch"}
	client := redisClient(t, addr)
	b := NewRedisBus(redisClient(t, addr), cfg, []string{"a"})
	box := &inbox{}
	if err := b.Start("n", box.add); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	msg := func(p string) Message {
		return Message{Kind: KindEvent, AppID: "a", Channel: "cache-x", Payload: []byte(p), Cached: true, CacheTTL: time.Minute}
	}
	if err := b.PublishWait(context.Background(), []Message{msg(`"first"`), msg(`"second"`)}); err != nil {
		t.Fatal(err)
	}
	p, order, err := NewRedisCache(client, cfg).Get(context.Background(), "a", "cache-x")
	if err != nil || string(p) != `"second"` || order.Pos != 1 {
		t.Fatalf("cache holds %s at %v, %v; want the second event at position 1", p, order, err)
	}
	box.waitFor(t, 2)
}
