package metrics

import (
	"context"
	"fmt"
	"testing"

	"github.com/resound/resound/hub"
)

// nowLoop runs the hub's loop work at once, on the caller's goroutine.
type nowLoop struct{}

func (nowLoop) Execute(fn func()) { fn() }

// discard is a socket that takes every frame and keeps none.
type discard struct{ frames int }

func (d *discard) Send(frames ...[]byte) { d.frames += len(frames) }
func (d *discard) Kick(int, string)      {}

// BenchmarkFanOut publishes through the hub to subscribers of one channel,
// with the metrics off and on: the difference is what the metrics cost the
// fan-out (the engine's byte counters are on in both: they are not optional).
func BenchmarkFanOut(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		for _, on := range []bool{false, true} {
			name := fmt.Sprintf("subscribers=%d/metrics=%v", subs, on)
			b.Run(name, func(b *testing.B) { benchFanOut(b, subs, on) })
		}
	}
}

func benchFanOut(b *testing.B, subs int, on bool) {
	opts := hub.Options{Loops: 1, Frame: func(p []byte) []byte { return p }}
	if on {
		opts.Observer = New()
	}
	h, err := hub.New([]hub.AppConfig{{ID: "a", Key: "k", Secret: "s"}}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	h.AttachLoop(0, nowLoop{})
	app := h.AppByID("a")
	outs := make([]*discard, subs)
	for i := range outs {
		outs[i] = &discard{}
		s, _, _ := h.Open(app, 0, outs[i])
		s.Handle([]byte(`{"event":"pusher:subscribe","data":{"channel":"news"}}`))
	}
	events := []hub.Event{{Name: "e", Data: `{"n":1}`, Channels: []string{"news"}}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := app.Publish(ctx, events); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := outs[subs-1].frames; got < b.N {
		b.Fatalf("the last subscriber got %d frames of %d", got, b.N)
	}
}
