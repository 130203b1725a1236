package hub

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resound/resound/protocol"
)

// testLoop is one event loop: a goroutine running what it is given, in order.
type testLoop struct{ fns chan func() }

func newTestLoop(t *testing.T) *testLoop {
	l := &testLoop{fns: make(chan func(), 1024)}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case fn := <-l.fns:
				fn()
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() { close(done) })
	return l
}

func (l *testLoop) Execute(fn func()) { l.fns <- fn }

// do runs fn on the loop and waits for it.
func (l *testLoop) do(fn func()) {
	ran := make(chan struct{})
	l.fns <- func() { fn(); close(ran) }
	<-ran
}

// recorder is a socket's outbox: it keeps every payload sent to it.
type recorder struct {
	mu     sync.Mutex
	frames []string
}

func (r *recorder) Send(frames ...[]byte) {
	r.mu.Lock()
	for _, f := range frames {
		r.frames = append(r.frames, string(f))
	}
	r.mu.Unlock()
}

func (r *recorder) Kick(int, string) {}

// events lists the event names received (pusher:* protocol replies
// included), with the data of application events.
func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.frames {
		var m struct {
			Event string `json:"event"`
			Data  any    `json:"data"`
		}
		_ = json.Unmarshal([]byte(f), &m)
		if strings.HasPrefix(m.Event, "pusher:") || strings.HasPrefix(m.Event, "pusher_internal:") {
			out = append(out, m.Event)
			continue
		}
		d, _ := m.Data.(string)
		out = append(out, m.Event+"="+d)
	}
	return out
}

// waitEvents waits until the recorder holds n events, then a little more
// for anything that should not come, and returns them.
func (r *recorder) waitEvents(t *testing.T, l *testLoop, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.events()) < n && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	// Flush the loop twice: anything queued (a broadcast copy) lands first.
	l.do(func() {})
	l.do(func() {})
	return r.events()
}

type cacheFixture struct {
	t    *testing.T
	hub  *Hub
	app  *App
	loop *testLoop
}

func newCacheFixture(t *testing.T, cache EventCache, ttl int) *cacheFixture {
	h, err := New([]AppConfig{{ID: "1", Key: "key", Secret: "secret", CacheTTL: ttl}},
		Options{Loops: 1, Frame: func(p []byte) []byte { return p }, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	f := &cacheFixture{t: t, hub: h, app: h.AppByID("1"), loop: newTestLoop(t)}
	h.AttachLoop(0, f.loop)
	return f
}

// socket opens a socket and subscribes it (with auth and member data for
// channels that need them).
func (f *cacheFixture) socket(channel, userID string) (*Session, *recorder) {
	rec := &recorder{}
	var s *Session
	f.loop.do(func() {
		s, _, _ = f.hub.Open(f.app, 0, rec)
		f.subscribe(s, channel, userID)
	})
	return s, rec
}

func (f *cacheFixture) subscribe(s *Session, channel, userID string) {
	data := map[string]string{"channel": channel}
	if protocol.KindOf(channel).NeedsAuth() {
		cd := ""
		if userID != "" {
			cd = `{"user_id":"` + userID + `"}`
			data["channel_data"] = cd
		}
		data["auth"] = "key:" + protocol.SignChannel("secret", s.ID(), channel, cd)
	}
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": data})
	s.Handle(b)
}

func (f *cacheFixture) publish(channel, event, data string) {
	f.t.Helper()
	if err := f.app.Publish(context.Background(), []Event{{Name: event, Data: data, Channels: []string{channel}}}); err != nil {
		f.t.Fatal(err)
	}
}

func TestCacheKeepsOnlyPublishedEventsNotPresenceNews(t *testing.T) {
	f := newCacheFixture(t, nil, 60)
	const ch = "presence-cache-room"
	_, first := f.socket(ch, "u1")
	if got := first.waitEvents(t, f.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded pusher:cache_miss" {
		t.Fatalf("first member got %v", got)
	}
	f.publish(ch, "score", "1")
	f.socket(ch, "u2") // member_added for u2 reaches the first socket
	if got := first.waitEvents(t, f.loop, 4); got[2] != "score=1" || got[3] != "pusher_internal:member_added" {
		t.Fatalf("first member got %v", got)
	}
	// Presence news from another node arrives over the bus.
	f.hub.receive(Message{Kind: KindEvent, AppID: "1", Channel: ch, UserID: "u9", Version: 99,
		Payload: protocol.MemberAdded(ch, []byte(`"u9"`), nil)})
	first.waitEvents(t, f.loop, 5)
	_, late := f.socket(ch, "u3")
	got := late.waitEvents(t, f.loop, 2)
	if strings.Join(got, " ") != "pusher_internal:subscription_succeeded score=1" {
		t.Fatalf("a late member must be replayed the published event, not presence news: got %v", got)
	}
	if p := f.app.CachedEvent(context.Background(), ch); !strings.Contains(string(p), `"score"`) {
		t.Fatalf("info=cache reports %s, want the published event", p)
	}
}

func TestCacheIgnoresClientEvents(t *testing.T) {
	f := newCacheFixture(t, nil, 60)
	const ch = "private-cache-room"
	s, _ := f.socket(ch, "")
	f.loop.do(func() {
		s.Handle([]byte(`{"event":"client-typing","channel":"private-cache-room","data":{}}`))
	})
	_, late := f.socket(ch, "")
	if got := late.waitEvents(t, f.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded pusher:cache_miss" {
		t.Fatalf("a whisper must not be cached: late subscriber got %v", got)
	}
	if p := f.app.CachedEvent(context.Background(), ch); p != nil {
		t.Fatalf("info=cache reports a whisper: %s", p)
	}
}

func TestCacheReplaysEncryptedCacheChannels(t *testing.T) {
	f := newCacheFixture(t, nil, 60)
	const ch = "private-encrypted-cache-room"
	f.publish(ch, "secret", "ciphertext")
	_, late := f.socket(ch, "")
	if got := late.waitEvents(t, f.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded secret=ciphertext" {
		t.Fatalf("private-encrypted-cache- subscriber got %v", got)
	}
}

func TestCacheEntryExpiresWithTTL(t *testing.T) {
	f := newCacheFixture(t, nil, 1)
	f.publish("cache-news", "e", "1")
	time.Sleep(1100 * time.Millisecond) // the TTL is the thing under test
	_, late := f.socket("cache-news", "")
	if got := late.waitEvents(t, f.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded pusher:cache_miss" {
		t.Fatalf("after the TTL a subscriber got %v", got)
	}
}

func TestCacheReplayIsNotFollowedByItsBroadcast(t *testing.T) {
	f := newCacheFixture(t, nil, 60)
	var rec = &recorder{}
	// Publish and subscribe in one loop turn: the broadcast is still queued
	// when the subscriber is replayed the same event.
	f.loop.do(func() {
		f.publish("cache-news", "e", "1")
		s, _, _ := f.hub.Open(f.app, 0, rec)
		f.subscribe(s, "cache-news", "")
	})
	if got := rec.waitEvents(t, f.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=1" {
		t.Fatalf("got %v, want the event exactly once", got)
	}
	f.publish("cache-news", "e", "2")
	if got := rec.waitEvents(t, f.loop, 3); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=1 e=2" {
		t.Fatalf("got %v, want later events as usual", got)
	}
}

// A node that had not delivered an event yet replays it from the shared
// cache; when the bus brings the event later, it is not sent again.
func TestCacheSharedReplayIsNotFollowedByALateBroadcast(t *testing.T) {
	shared := NewMemoryCache()
	a := newCacheFixture(t, shared, 60)
	b := newCacheFixture(t, shared, 60)
	a.publish("cache-news", "e", "1")
	_, rec := b.socket("cache-news", "")
	if got := rec.waitEvents(t, b.loop, 2); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=1" {
		t.Fatalf("got %v, want the shared cache's event", got)
	}
	b.hub.receive(Message{Kind: KindEvent, AppID: "1", Channel: "cache-news", Payload: protocol.AppEvent("e", "cache-news", "1"), Cached: true, Order: Order{Seq: 1}})
	b.hub.receive(Message{Kind: KindEvent, AppID: "1", Channel: "cache-news", Payload: protocol.AppEvent("e", "cache-news", "2"), Cached: true, Order: Order{Seq: 2}})
	if got := rec.waitEvents(t, b.loop, 3); strings.Join(got, " ") != "pusher_internal:subscription_succeeded e=1 e=2" {
		t.Fatalf("got %v, want e=1 once then e=2", got)
	}
}

// A publish the bus did not take is not cached either.
func TestCacheKeepsNothingTheBusRefused(t *testing.T) {
	f := newCacheFixture(t, nil, 60)
	_ = f.hub.bus.Close()
	if err := f.app.Publish(context.Background(), []Event{{Name: "e", Data: "1", Channels: []string{"cache-news"}}}); err == nil {
		t.Fatal("publish on a closed bus succeeded")
	}
	if p := f.app.CachedEvent(context.Background(), "cache-news"); p != nil {
		t.Fatalf("a refused event was cached: %s", p)
	}
}
