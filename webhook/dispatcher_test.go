package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// receiver records every POST; fail decides per request whether to answer 500.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	events []Event
	got    chan struct{}
	fail   func(n int) bool
	calls  atomic.Int64
	t      *testing.T
}

func newReceiver(t *testing.T, fail func(n int) bool) (*receiver, string) {
	r := &receiver{got: make(chan struct{}, 1000), fail: fail, t: t}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/hook"
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := int(r.calls.Add(1))
	body, _ := io.ReadAll(req.Body)
	if req.Header.Get("X-Pusher-Key") != "key" || req.Header.Get("Content-Type") != "application/json" ||
		req.Header.Get("X-Pusher-Signature") != Sign("secret", body) || req.Header.Get("X-Extra") != "yes" {
		r.t.Errorf("bad request headers %v", req.Header)
	}
	if r.fail != nil && r.fail(n) {
		w.WriteHeader(500)
		return
	}
	var b struct {
		Events []Event `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		r.t.Errorf("body %s: %v", body, err)
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	r.events = append(r.events, b.Events...)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *receiver) waitEvents(t *testing.T, n int) []Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.events) >= n {
			out := append([]Event(nil), r.events...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("%d events arrived, want %d", len(r.events), n)
		}
	}
}

func testDispatcher(t *testing.T, url string, opts Options) *Dispatcher {
	opts.Logger = log.New(io.Discard, "", 0)
	hook := Config{URL: url, EventTypes: []string{ClientEvent, CacheMiss, MemberAdded}, Headers: map[string]string{"X-Extra": "yes"}}
	var d *Dispatcher
	d = New([]App{{ID: "app", Key: "key", Secret: "secret", Hooks: []Config{hook}}}, NewMemoryStore(opts.QueueSize, func(n int) { d.Dropped(n) }), opts)
	d.Start()
	t.Cleanup(d.Close)
	return d
}

func TestEventsOfOneMomentShareAPost(t *testing.T) {
	r, url := newReceiver(t, nil)
	d := testDispatcher(t, url, Options{BatchSize: 4, BatchWait: 200 * time.Millisecond})
	for i := range 6 {
		d.Emit(Event{App: "app", Name: CacheMiss, Channel: string(rune('a' + i))})
	}
	// Not wanted by the webhook: filtered out, and no POST is made for it.
	d.Emit(Event{App: "app", Name: ChannelVacated, Channel: "z"})
	evs := r.waitEvents(t, 6)
	r.mu.Lock()
	posts := len(r.bodies)
	r.mu.Unlock()
	if posts != 2 {
		t.Fatalf("%d POSTs for 6 events with batch_size 4, want 2", posts)
	}
	for i, e := range evs {
		if e.Channel != string(rune('a'+i)) || e.Name != CacheMiss {
			t.Fatalf("event %d: %+v (order lost)", i, e)
		}
	}
	if s := waitSent(t, d, 2); s.Sent != 2 || s.Failed != 0 || s.Retried != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFailingReceiverIsRetriedUntilItAnswers(t *testing.T) {
	r, url := newReceiver(t, func(n int) bool { return n <= 3 })
	d := testDispatcher(t, url, Options{RetryMin: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond, BatchWait: time.Millisecond})
	d.Emit(Event{App: "app", Name: MemberAdded, Channel: "presence-x", UserID: "1"})
	evs := r.waitEvents(t, 1)
	if len(evs) != 1 || evs[0].UserID != "1" {
		t.Fatalf("got %+v", evs)
	}
	if s := waitSent(t, d, 1); s.Sent != 1 || s.Retried != 3 || s.Failed != 0 {
		t.Fatalf("stats %+v, want 1 sent after 3 retries", s)
	}
}

func TestABatchIsGivenUpAfterRetryFor(t *testing.T) {
	r, url := newReceiver(t, func(int) bool { return true })
	d := testDispatcher(t, url, Options{RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond, RetryFor: 300 * time.Millisecond, BatchWait: time.Millisecond})
	d.Emit(Event{App: "app", Name: CacheMiss, Channel: "cache-x"})
	deadline := time.Now().Add(10 * time.Second)
	for d.Stats().Failed == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("never given up: %+v", d.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	calls := r.calls.Load()
	if s := d.Stats(); s.Sent != 0 || s.Retried == 0 || calls < 3 || calls > 20 {
		t.Fatalf("stats %+v after %d calls", s, calls)
	}
}

func TestATimedOutPostIsRetried(t *testing.T) {
	var slow atomic.Bool
	slow.Store(true)
	release := make(chan struct{})
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if slow.Swap(false) {
			select {
			case <-release:
			case <-req.Context().Done():
			}
			return
		}
		body, _ := io.ReadAll(req.Body)
		if bytes.Contains(body, []byte(`"cache-x"`)) {
			got.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	// Cleanups run last first: the held request is released before the
	// server waits for it.
	t.Cleanup(func() { close(release) })
	d := testDispatcher(t, srv.URL, Options{Timeout: 200 * time.Millisecond, RetryMin: 20 * time.Millisecond, BatchWait: time.Millisecond})
	d.Emit(Event{App: "app", Name: CacheMiss, Channel: "cache-x"})
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after a timeout: %+v", d.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := waitSent(t, d, 1); s.Sent != 1 || s.Retried != 1 {
		t.Fatalf("stats %+v, want 1 retried then sent", s)
	}
}

func TestEmitNeverBlocksAndDropsTheOldest(t *testing.T) {
	// Nothing is started: the inbox only fills.
	d := New([]App{{ID: "app", Key: "key", Secret: "secret", Hooks: []Config{{URL: "http://127.0.0.1:1/", EventTypes: []string{CacheMiss}}}}},
		NewMemoryStore(10, nil), Options{QueueSize: 10, Logger: log.New(io.Discard, "", 0)})
	start := time.Now()
	for i := range 1000 {
		d.Emit(Event{App: "app", Name: CacheMiss, Channel: string(rune(i))})
	}
	if time.Since(start) > time.Second {
		t.Fatal("Emit took too long")
	}
	if s := d.Stats(); s.Dropped != 990 {
		t.Fatalf("dropped %d, want 990", s.Dropped)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.inbox) != 10 || d.inbox[0].Channel != string(rune(990)) {
		t.Fatalf("kept %d, first %q: want the newest 10", len(d.inbox), d.inbox[0].Channel)
	}
	if !d.Wants("app", CacheMiss) || d.Wants("app", ClientEvent) || d.Wants("other", CacheMiss) {
		t.Fatal("Wants disagrees with the config")
	}
}

// waitSent waits for the sender to count n POSTs: it counts once the
// receiver's answer is back, after the receiver saw the request.
func waitSent(t *testing.T, d *Dispatcher, n uint64) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.Stats().Sent < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return d.Stats()
}

// failingStore fails its first Adds, as Redis does while it is down.
type failingStore struct {
	*MemoryStore
	failures atomic.Int64
}

func (s *failingStore) Add(ctx context.Context, events []Event, delay time.Duration) error {
	if s.failures.Add(-1) >= 0 {
		return errors.New("connection refused")
	}
	return s.MemoryStore.Add(ctx, events, delay)
}

func TestEventsWaitOutAStoreOutage(t *testing.T) {
	r, url := newReceiver(t, nil)
	store := &failingStore{MemoryStore: NewMemoryStore(100, nil)}
	store.failures.Store(3)
	hook := Config{URL: url, EventTypes: []string{CacheMiss}, Headers: map[string]string{"X-Extra": "yes"}}
	d := New([]App{{ID: "app", Key: "key", Secret: "secret", Hooks: []Config{hook}}}, store,
		Options{RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond, BatchWait: time.Millisecond, Logger: log.New(io.Discard, "", 0)})
	d.Start()
	t.Cleanup(d.Close)
	d.Emit(Event{App: "app", Name: CacheMiss, Channel: "cache-a"})
	d.Emit(Event{App: "app", Name: CacheMiss, Channel: "cache-b"})
	evs := r.waitEvents(t, 2)
	if len(evs) != 2 || evs[0].Channel != "cache-a" || evs[1].Channel != "cache-b" {
		t.Fatalf("after the outage got %+v", evs)
	}
	if s := d.Stats(); s.Dropped != 0 {
		t.Fatalf("stats %+v: nothing should be dropped", s)
	}
}

// One app whose receiver keeps failing must not hold up another's
// deliveries, even with a single worker.
func TestAFailingReceiverDoesNotStallOtherApps(t *testing.T) {
	down, downURL := newReceiver(t, func(int) bool { return true })
	up, upURL := newReceiver(t, nil)
	opts := Options{Workers: 1, RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond, RetryFor: time.Minute,
		BatchWait: time.Millisecond, Logger: log.New(io.Discard, "", 0)}
	d := New([]App{hookApp("down", downURL), hookApp("up", upURL)}, NewMemoryStore(100, nil), opts)
	d.Start()
	t.Cleanup(d.Close)
	d.Emit(whisper("down", "client-lost"))
	for deadline := time.Now().Add(10 * time.Second); down.calls.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the failing receiver was never retried")
		}
	}
	for i := range 3 {
		d.Emit(whisper("up", fmt.Sprint("client-", i)))
	}
	if got := eventNames(up.waitEvents(t, 3)); got != "client-0 client-1 client-2 " {
		t.Fatalf("healthy app got %q", got)
	}
}

// The server applies the defaults once and the dispatcher again: "none"
// (a negative delay) must survive both, and an unset delay gets the default.
func TestDefaultsTwiceKeepNoDelay(t *testing.T) {
	none := Options{Delay: -time.Millisecond}.WithDefaults().WithDefaults()
	if got := none.hold(); got != 0 {
		t.Fatalf("delay -1 ms applied twice holds removals %v, want none", got)
	}
	unset := Options{}.WithDefaults().WithDefaults()
	if got := unset.hold(); got != 3*time.Second {
		t.Fatalf("an unset delay holds removals %v, want the 3 s default", got)
	}
}
