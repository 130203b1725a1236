package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resound/resound/protocol"
)

// cachedOn is a cached API event on channel as the bus delivers it.
func cachedOn(channel, data string, seq uint64) Message {
	return Message{Kind: KindEvent, AppID: "1", Channel: channel, Payload: protocol.AppEvent("e", channel, data), Cached: true, Order: Order{Seq: seq}}
}

// A subscriber replayed "online" from the shared cache still gets a later
// "online" that follows an "away": only deliveries up to the replayed one
// are skipped, whatever their content.
func TestCacheSharedReplaySkipsByOrderNotContent(t *testing.T) {
	shared := NewMemoryCache()
	_ = shared.Put(context.Background(), "1", "cache-status", protocol.AppEvent("e", "cache-status", "online"), Order{Seq: 1}, time.Minute)
	b := newCacheFixture(t, shared, 60)
	_, rec := b.socket("cache-status", "")
	if got := rec.waitEvents(t, b.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=online" {
		t.Fatalf("got %v, want the shared cache's event", got)
	}
	b.hub.receive(cachedOn("cache-status", "away", 2))
	b.hub.receive(cachedOn("cache-status", "online", 3))
	if got := rec.waitEvents(t, b.loop, 4); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=online e=away e=online" {
		t.Fatalf("got %v, want away then online again", got)
	}
}

// A lagging node: the subscriber was replayed E4 from the shared cache, then
// the bus brings E3 and E4. Neither is sent: the final state stays E4.
func TestCacheSharedReplaySkipsOlderEventsOfALaggingNode(t *testing.T) {
	shared := NewMemoryCache()
	_ = shared.Put(context.Background(), "1", "cache-news", protocol.AppEvent("e", "cache-news", "4"), Order{Seq: 4}, time.Minute)
	b := newCacheFixture(t, shared, 60)
	_, rec := b.socket("cache-news", "")
	if got := rec.waitEvents(t, b.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=4" {
		t.Fatalf("got %v, want the shared cache's event", got)
	}
	b.hub.receive(cachedOn("cache-news", "3", 3))
	b.hub.receive(cachedOn("cache-news", "4", 4))
	b.hub.receive(cachedOn("cache-news", "5", 5))
	if got := rec.waitEvents(t, b.loop, 3); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=4 e=5" {
		t.Fatalf("got %v, want e=4 then e=5 only", got)
	}
}

// The same with the node's own copy: E3 and E4 are still queued for the
// loop when a new subscriber is replayed E4.
func TestCacheLocalReplaySkipsOlderQueuedEvents(t *testing.T) {
	f := newCacheFixture(t, nil, 60)
	_, first := f.socket("cache-news", "")
	first.waitEvents(t, f.loop, 2)
	rec := &recorder{}
	f.loop.do(func() {
		f.hub.receive(cachedOn("cache-news", "3", 3))
		f.hub.receive(cachedOn("cache-news", "4", 4))
		s, _, _ := f.hub.Open(f.app, 0, rec)
		f.subscribe(s, "cache-news", "")
	})
	f.hub.receive(cachedOn("cache-news", "5", 5))
	if got := rec.waitEvents(t, f.loop, 3); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=4 e=5" {
		t.Fatalf("got %v, want e=4 then e=5 only", got)
	}
	if got := first.waitEvents(t, f.loop, 5); strings.Join(got[2:], " ") != "e=3 e=4 e=5" {
		t.Fatalf("the earlier subscriber got %v", got)
	}
}

// A node keeps a channel's last frame only while it has subscribers there;
// a later subscriber is served by the shared cache.
func TestCacheNodeKeepsNoFrameWithoutSubscribers(t *testing.T) {
	shared := NewMemoryCache()
	f := newCacheFixture(t, shared, 60)
	f.hub.receive(cachedOn("cache-news", "1", 1)) // from another node, nobody here
	f.app.mu.RLock()
	n := f.app.channels.len()
	f.app.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d channels kept for an event nobody here subscribes to", n)
	}
	_ = shared.Put(context.Background(), "1", "cache-news", protocol.AppEvent("e", "cache-news", "1"), Order{Seq: 1}, time.Minute)
	_, rec := f.socket("cache-news", "")
	if got := rec.waitEvents(t, f.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=1" {
		t.Fatalf("got %v, want the shared cache's event", got)
	}
}

// Only an error that proves the write never left this node lets the
// publisher deliver locally; any other could be followed by the reader
// delivering the same entry.
func TestRedisBusLocalFallbackOnlyWhenNeverSent(t *testing.T) {
	never := []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")},
		fmt.Errorf("wrapped: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}),
	}
	maybe := []error{io.EOF, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, &net.OpError{Op: "write", Err: syscall.EPIPE}}
	for _, err := range never {
		if !neverSent(err) {
			t.Errorf("%v: should count as never sent", err)
		}
	}
	for _, err := range maybe {
		if neverSent(err) {
			t.Errorf("%v: may have reached Redis, must not be delivered locally", err)
		}
	}
}

// One API call publishing two events on a channel: a subscriber replayed the
// first (all this node had delivered yet) still gets the second.
func TestCacheReplayMidBatchGetsTheRestOfTheBatch(t *testing.T) {
	f := newCacheFixture(t, nil, 60)
	_, first := f.socket("cache-news", "")
	first.waitEvents(t, f.loop, 2)
	rec := &recorder{}
	second := cachedOn("cache-news", "b", 3)
	second.Order.Pos = 1
	f.loop.do(func() {
		f.hub.receive(cachedOn("cache-news", "a", 3))
		s, _, _ := f.hub.Open(f.app, 0, rec)
		f.subscribe(s, "cache-news", "")
		f.hub.receive(second)
	})
	if got := rec.waitEvents(t, f.loop, 3); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=a e=b" {
		t.Fatalf("got %v, want e=a then e=b", got)
	}
}

func TestOrderParsesWhatItPrints(t *testing.T) {
	for _, o := range []Order{{1700000000000, 3, 0}, {1, 0, 7}} {
		if got, ok := parseOrder(o.String()); !ok || got != o {
			t.Fatalf("%v printed %q, parsed back %v %v", o, o.String(), got, ok)
		}
	}
	if o, ok := parseOrder("1700000000000-3"); !ok || o != (Order{Ms: 1700000000000, Seq: 3}) {
		t.Fatalf("a stream id parsed as %v %v", o, ok)
	}
	if _, ok := parseOrder("garbage"); ok {
		t.Fatal("garbage parsed")
	}
	if !(Order{1, 2, 1}).After(Order{1, 2, 0}) || (Order{1, 2, 0}).After(Order{1, 2, 0}) || !(Order{2, 0, 0}).After(Order{1, 9, 9}) {
		t.Fatal("After is wrong")
	}
}
