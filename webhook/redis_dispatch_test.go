package webhook

import (
	"io"
	"log"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// redisDispatcher runs a dispatcher over a RedisStore of its own, with the
// claim time cmd/resound derives from the options.
func redisDispatcher(t *testing.T, addr, prefix string, apps []App, opts Options) *Dispatcher {
	t.Helper()
	opts.Logger = log.New(io.Discard, "", 0)
	opts = opts.WithDefaults()
	claim := 2*opts.Timeout + opts.RetryMax + time.Second
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	var d *Dispatcher
	store := NewRedisStore(c, prefix, "node-0", opts.QueueSize, claim, c.Close, func(n int) { d.Dropped(n) })
	d = New(apps, store, opts)
	d.Start()
	t.Cleanup(d.Close)
	return d
}

func hookApp(id, url string) App {
	return App{ID: id, Key: "key", Secret: "secret", Hooks: []Config{{URL: url, EventTypes: []string{ClientEvent}, Headers: map[string]string{"X-Extra": "yes"}}}}
}

func whisper(app, name string) Event {
	return Event{App: app, Name: ClientEvent, Channel: "private-x", Event: name, Data: "{}"}
}

func eventNames(evs []Event) string {
	out := ""
	for _, e := range evs {
		out += e.Event + " "
	}
	return out
}

// A batch that waits behind one being retried for longer than the claim
// time is still this node's: it must not be claimed and sent a second time.
func TestRedisBatchWaitingBehindARetryIsSentOnce(t *testing.T) {
	addr := startRedis(t)
	failUntil := time.Now().Add(4 * time.Second)
	r, url := newReceiver(t, func(int) bool { return time.Now().Before(failUntil) })
	d := redisDispatcher(t, addr, "dup", []App{hookApp("app", url)},
		Options{Workers: 1, Timeout: 300 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond, BatchWait: time.Millisecond})
	d.Emit(whisper("app", "client-1"))
	// client-2 is taken while client-1 is being retried.
	for deadline := time.Now().Add(10 * time.Second); r.calls.Load() < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("client-1 was never POSTed")
		}
	}
	d.Emit(whisper("app", "client-2"))
	r.waitEvents(t, 2)
	// A marker sent after both: a duplicate would arrive before it.
	d.Emit(whisper("app", "client-3"))
	if got := eventNames(r.waitEvents(t, 3)); got != "client-1 client-2 client-3 " {
		t.Fatalf("receiver got %q, want each once in order", got)
	}
}
