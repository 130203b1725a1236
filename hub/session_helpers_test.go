package hub

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/resound/resound/protocol"
)

// recordingOutbox keeps what the hub sends one socket, decoded lazily. It is
// locked because cache reads answer from a reader goroutine.
type recordingOutbox struct {
	mu     sync.Mutex
	frames [][]byte
	kicked bool
}

func (o *recordingOutbox) Send(frames ...[]byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, f := range frames {
		o.frames = append(o.frames, append([]byte(nil), f...))
	}
}

func (o *recordingOutbox) Kick(code int, message string) {
	o.mu.Lock()
	o.kicked = true
	o.mu.Unlock()
}

// waitFrames waits until at least n frames arrived (answers to cache reads
// come from another goroutine).
func (o *recordingOutbox) waitFrames(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		got := len(o.frames)
		o.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d frames, got %d", n, got)
		}
		time.Sleep(time.Millisecond)
	}
}

// events lists the event names received, in order.
func (o *recordingOutbox) events(t testing.TB) []string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var names []string
	for _, f := range o.frames {
		names = append(names, decodeWire(t, f).Event)
	}
	return names
}

// last returns the newest message decoded, or fails.
func (o *recordingOutbox) last(t testing.TB) hubMessage {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) == 0 {
		t.Fatal("the socket received nothing")
	}
	return decodeWire(t, o.frames[len(o.frames)-1])
}

func (o *recordingOutbox) reset() {
	o.mu.Lock()
	o.frames = o.frames[:0]
	o.mu.Unlock()
}

type hubMessage struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Data    string `json:"data"`
}

func decodeWire(t testing.TB, b []byte) hubMessage {
	t.Helper()
	var m hubMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a Pusher message: %q: %v", b, err)
	}
	return m
}

// inlineExecutor runs loop work at once: tests drive one goroutine.
type inlineExecutor struct{}

func (inlineExecutor) Execute(fn func()) { fn() }

func newTestHub(t testing.TB, app AppConfig) (*Hub, *App) {
	t.Helper()
	app.ID, app.Key, app.Secret = "app", "key", "secret"
	h, err := New([]AppConfig{app}, Options{Loops: 1, Frame: func(p []byte) []byte { return p }})
	if err != nil {
		t.Fatal(err)
	}
	h.AttachLoop(0, inlineExecutor{})
	t.Cleanup(func() { _ = h.Close() })
	return h, h.AppByID("app")
}

func openSocket(t testing.TB, h *Hub, a *App) (*Session, *recordingOutbox) {
	t.Helper()
	out := &recordingOutbox{}
	s, code, msg := h.Open(a, 0, out)
	if s == nil {
		t.Fatalf("open refused: %d %s", code, msg)
	}
	return s, out
}

func subscribeMsg(channel string) []byte {
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel}})
	return b
}

func unsubscribeMsg(channel string) []byte {
	b, _ := json.Marshal(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": channel}})
	return b
}

// presenceSubscribeMsg signs a presence subscription for user id with
// user_info info (raw JSON).
func presenceSubscribeMsg(s *Session, channel string, id int, info string) []byte {
	return presenceSubscribeData(s, channel, `{"user_id":`+strconv.Itoa(id)+`,"user_info":`+info+`}`)
}

// presenceSubscribeData signs a presence subscription with channel_data data.
func presenceSubscribeData(s *Session, channel, data string) []byte {
	sig := protocol.SignChannel(s.app.Secret, s.ID(), channel, data)
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": channel, "auth": s.app.Key + ":" + sig, "channel_data": data}})
	return b
}

// subscriptionError decodes the data of a pusher:subscription_error.
func subscriptionError(t testing.TB, m hubMessage) (errType, message string, status int) {
	t.Helper()
	if m.Event != "pusher:subscription_error" {
		t.Fatalf("want pusher:subscription_error, got %s %s", m.Event, m.Data)
	}
	var d struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(m.Data), &d); err != nil {
		t.Fatalf("subscription_error data %q: %v", m.Data, err)
	}
	return d.Type, d.Error, d.Status
}
