package webhook

import (
	"io"
	"log"
	"testing"
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
