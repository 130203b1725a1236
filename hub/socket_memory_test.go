package hub

import (
	"encoding/json"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"

	"github.com/resound/resound/protocol"
)

// privateSubscribeMsg signs a private subscription for s.
func privateSubscribeMsg(s *Session, channel string) []byte {
	sig := protocol.SignChannel(s.app.Secret, s.ID(), channel, "")
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": channel, "auth": s.app.Key + ":" + sig}})
	return b
}

// subscribedHeap opens n sockets on two loops, each subscribed to a channel
// of its own of the kind (the shape of `bench idle --kind`), and returns the
// live heap bytes and objects they added, per socket. The sessions are
// returned so the caller keeps them alive until it has measured.
func subscribedHeap(t *testing.T, kind string, n int) (bytes, objects float64, keep []*Session) {
	h, err := New([]AppConfig{{ID: "app", Key: "key", Secret: "secret"}}, Options{Loops: 2, Frame: func(p []byte) []byte { return p }})
	if err != nil {
		t.Fatal(err)
	}
	h.AttachLoop(0, inlineExecutor{})
	h.AttachLoop(1, inlineExecutor{})
	t.Cleanup(func() { _ = h.Close() })
	a := h.AppByID("app")
	msgs := make([][]byte, n)
	keep = make([]*Session, n)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, beforeObjects := ms.HeapAlloc, ms.HeapObjects
	for i := range n {
		s, _, msg := h.Open(a, i%2, &countingOutbox{})
		if s == nil {
			t.Fatal(msg)
		}
		keep[i] = s
		switch kind {
		case "private":
			msgs[i] = privateSubscribeMsg(s, "private-bench-"+strconv.Itoa(i))
		case "presence":
			msgs[i] = presenceSubscribeData(s, "presence-bench-"+strconv.Itoa(i), `{"user_id":"u`+strconv.Itoa(i)+`","user_info":{}}`)
		}
		s.Handle(msgs[i])
		msgs[i] = nil
		if int(s.nsubs) != 1 || s.subList()[0].pending() {
			t.Fatalf("socket %d is not subscribed", i)
		}
	}
	runtime.GC()
	if path := os.Getenv("SOCKET_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path + "." + kind)
		if err != nil {
			t.Fatal(err)
		}
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc-before) / float64(n), float64(ms.HeapObjects-beforeObjects) / float64(n), keep
}

// A socket with one private or one presence channel of its own keeps a
// bounded live heap (the Session and its socket id included). The bounds
// guard the layout: a map per channel or a duplicated member record shows
// up here long before it shows up in an operator's RSS. Measured: 248 B and
// 5.0 objects private, 354-358 B and 6.5-6.7 objects presence (the bounds leave room for noise, not for one more word per socket: 16 B
// more crosses a size class). Earlier layouts: 342 B and 6.1 objects
// private with a Go map as the channel index, a separate slice of 16-B
// loopSubscribers, 48-B subscriptions holding a registration object and a
// 112-B Session; presence 867 B and 16.4 objects while a single node kept
// its members three times, in the channel, a view and the in-memory store,
// and 2,883 B and 37.0 with a Go map per member set. For an exact profile
// of what is live: SOCKET_HEAP_PROFILE=/tmp/heap go test -run
// TestSubscribedSocketHeap/presence ./hub, then go tool pprof -lines.
func TestSubscribedSocketHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates tens of MB")
	}
	if os.Getenv("SOCKET_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	for _, c := range []struct {
		kind        string
		bytes, objs float64
	}{{"private", 256, 5.1}, {"presence", 368, 6.9}} {
		if raceEnabled {
			// Measured 362 B and 7.0 objects presence under -race.
			c.bytes, c.objs = c.bytes+20, c.objs+1
		}
		t.Run(c.kind, func(t *testing.T) {
			bytes, objs, keep := subscribedHeap(t, c.kind, 20000)
			t.Logf("%.0f B and %.1f objects of live heap per socket", bytes, objs)
			if bytes > c.bytes || objs > c.objs {
				t.Errorf("%.0f B and %.1f objects per socket, over %.0f B and %.1f objects", bytes, objs, c.bytes, c.objs)
			}
			runtime.KeepAlive(keep)
		})
	}
}
