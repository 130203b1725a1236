package hub

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/resound/resound/protocol"
)

// heldLoop queues what the hub runs on a loop until the test runs it.
type heldLoop struct {
	mu  sync.Mutex
	fns []func()
}

func (l *heldLoop) Execute(fn func()) {
	l.mu.Lock()
	l.fns = append(l.fns, fn)
	l.mu.Unlock()
}

func (l *heldLoop) run() {
	l.mu.Lock()
	fns := l.fns
	l.fns = nil
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

type recordingObserver struct {
	mu        sync.Mutex
	fanOuts   []time.Duration
	published int
}

func (o *recordingObserver) FannedOut(d time.Duration) {
	o.mu.Lock()
	o.fanOuts = append(o.fanOuts, d)
	o.mu.Unlock()
}

func (o *recordingObserver) BusPublished(time.Duration, error) {
	o.mu.Lock()
	o.published++
	o.mu.Unlock()
}

func (o *recordingObserver) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.fanOuts)
}

// TestFanOutIsTimedToTheLastLoop: the duration is reported once, when the
// last loop with subscribers has written the event, not before.
func TestFanOutIsTimedToTheLastLoop(t *testing.T) {
	obs := &recordingObserver{}
	h, err := New([]AppConfig{{ID: "a", Key: "k", Secret: "s"}}, Options{Loops: 3, Frame: func(p []byte) []byte { return p }, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	loops := []*heldLoop{{}, {}, {}}
	for i, l := range loops {
		h.AttachLoop(i, l)
	}
	app := h.AppByID("a")
	outs := []*recordingOutbox{{}, {}}
	for i, loop := range []int{0, 2} { // nobody on loop 1
		s, _, _ := h.Open(app, loop, outs[i])
		app.join("news", protocol.Public, s)
	}
	if err := app.Publish(context.Background(), []Event{{Name: "e", Data: "{}", Channels: []string{"news"}}}); err != nil {
		t.Fatal(err)
	}
	if obs.published != 1 {
		t.Errorf("bus publishes observed: %d, want 1", obs.published)
	}
	if n := obs.count(); n != 0 {
		t.Fatalf("reported before any loop wrote: %d", n)
	}
	loops[0].run()
	if n := obs.count(); n != 0 {
		t.Fatalf("reported with loop 2 still to write: %d", n)
	}
	loops[2].run()
	if n := obs.count(); n != 1 {
		t.Fatalf("reported %d times after both loops wrote, want once", n)
	}
	if got := h.Snapshot().Deliveries; got != 2 {
		t.Errorf("deliveries %d, want 2", got)
	}
	if len(outs[0].frames) != 1 || len(outs[1].frames) != 1 {
		t.Errorf("frames: %d and %d, want one each", len(outs[0].frames), len(outs[1].frames))
	}
}

func TestSnapshotCountsByAppAndKind(t *testing.T) {
	h, app := newTestHub(t, AppConfig{})
	s1, _ := openSocket(t, h, app)
	s2, _ := openSocket(t, h, app)
	s1.Handle(subscribeMsg("news"))
	s2.Handle(subscribeMsg("news"))
	s1.Handle(presenceSubscribeMsg(s1, "presence-room", 1, "{}"))
	s2.Handle(presenceSubscribeMsg(s2, "presence-room", 1, "{}")) // the same user's second tab
	h.Refused(RefusedSlowConsumer)
	a := h.Snapshot().Apps[0]
	if a.Connections != 2 || a.Opened != 2 {
		t.Errorf("connections %d opened %d, want 2 and 2", a.Connections, a.Opened)
	}
	if a.Channels[protocol.Public] != 1 || a.Subscriptions[protocol.Public] != 2 {
		t.Errorf("public: %d channels, %d subscriptions; want 1 and 2", a.Channels[protocol.Public], a.Subscriptions[protocol.Public])
	}
	if a.Channels[protocol.Presence] != 1 || a.Subscriptions[protocol.Presence] != 2 || a.PresenceMembers != 1 {
		t.Errorf("presence: %d channels, %d subscriptions, %d members; want 1, 2 and 1",
			a.Channels[protocol.Presence], a.Subscriptions[protocol.Presence], a.PresenceMembers)
	}
	s1.Handle(unsubscribeMsg("news"))
	s1.Close()
	a = h.Snapshot().Apps[0]
	if a.Connections != 1 || a.Subscriptions[protocol.Public] != 1 || a.Channels[protocol.Public] != 1 || a.PresenceMembers != 1 {
		t.Errorf("after one socket left: %+v", a)
	}
	s2.Close()
	a = h.Snapshot().Apps[0]
	if a.Connections != 0 || a.Opened != 2 || a.Channels != [NumKinds]int{} || a.Subscriptions != [NumKinds]int{} || a.PresenceMembers != 0 {
		t.Errorf("after every socket left: %+v", a)
	}
	snap := h.Snapshot()
	if snap.Refusals[RefusedSlowConsumer] != 1 || RefusalName(int(RefusedSlowConsumer)) != "slow_consumer" {
		t.Errorf("slow consumer refusals: %d", snap.Refusals[RefusedSlowConsumer])
	}
	for k := 0; k < NumKinds; k++ {
		if KindName(protocol.Kind(k)) == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
}
