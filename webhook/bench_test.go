package webhook

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEmit is what an event loop pays per webhook event.
func BenchmarkEmit(b *testing.B) {
	d := New([]App{{ID: "app", Key: "k", Secret: "s", Hooks: []Config{{URL: "http://127.0.0.1:1/", EventTypes: []string{ClientEvent}}}}},
		NewMemoryStore(1000, nil), Options{QueueSize: 1 << 20, Logger: log.New(io.Discard, "", 0)})
	ev := Event{App: "app", Name: ClientEvent, Channel: "private-room", Event: "client-typing", Data: `{"on":true}`, SocketID: "1.2"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if d.Wants("app", ClientEvent) {
			d.Emit(ev)
		}
		if len(d.inbox) >= 1<<19 {
			d.inbox = d.inbox[:0]
		}
	}
}

// BenchmarkBody50 encodes and signs one full batch.
func BenchmarkBody50(b *testing.B) {
	evs := make([]Event, 50)
	for i := range evs {
		evs[i] = Event{App: "app", Name: MemberAdded, Channel: "presence-room", UserID: "12345"}
	}
	var buf []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendBody(buf[:0], 1700000000000, evs)
		_ = Sign("secret", buf)
	}
}

// BenchmarkDeliver is end-to-end throughput to a local receiver: events
// emitted, batched, signed, POSTed and answered 200.
func BenchmarkDeliver(b *testing.B) {
	var got atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if got.Add(int64(bytes.Count(body, []byte(`"name":`)))) >= int64(b.N) {
			select {
			case done <- struct{}{}:
			default:
			}
		}
	}))
	defer srv.Close()
	d := New([]App{{ID: "app", Key: "k", Secret: "s", Hooks: []Config{{URL: srv.URL, EventTypes: []string{ClientEvent}}}}},
		NewMemoryStore(1<<20, nil), Options{QueueSize: 1 << 20, BatchWait: 5 * time.Millisecond, Logger: log.New(io.Discard, "", 0)})
	d.Start()
	defer d.Close()
	ev := Event{App: "app", Name: ClientEvent, Channel: "private-room", Event: "client-typing", Data: `{"on":true}`, SocketID: "1.2"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Emit(ev)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("%d of %d delivered", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(d.Stats().Sent), "posts")
}
