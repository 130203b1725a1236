package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// inbox records what one node's bus delivers.
type inbox struct {
	mu  sync.Mutex
	got []Message
}

func (b *inbox) add(m Message) { b.mu.Lock(); b.got = append(b.got, m); b.mu.Unlock() }

func (b *inbox) payloads() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.got))
	for i, m := range b.got {
		out[i] = string(m.Payload)
	}
	return out
}

// waitFor waits until the inbox holds n messages (or the deadline passes).
func (b *inbox) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := b.payloads()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BusContract is what every Bus must do. newBus returns a bus of one
// cluster (buses from one test share a backend); nodes is how many of them
// make a cluster: 1 for LocalBus, several for a networked bus.
func BusContract(t *testing.T, nodes int, newBus func(t *testing.T) Bus) {
	startNodes := func(t *testing.T) ([]Bus, []*inbox) {
		boxes := make([]*inbox, nodes)
		buses := make([]Bus, nodes)
		for i := range buses {
			box := &inbox{}
			boxes[i] = box
			buses[i] = newBus(t)
			if err := buses[i].Start(fmt.Sprintf("node-%d", i), box.add); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = buses[i].Close() })
		}
		return buses, boxes
	}
	t.Run("a sequential publisher round-robin over nodes keeps its order on every node", func(t *testing.T) {
		const msgs = 300
		buses, boxes := startNodes(t)
		want := make([]string, msgs)
		for j := 0; j < msgs; j++ {
			want[j] = fmt.Sprint(j)
			if err := buses[j%nodes].PublishWait(context.Background(), []Message{{Kind: KindEvent, AppID: "a", Channel: "c", Payload: []byte(want[j])}}); err != nil {
				t.Fatal(err)
			}
		}
		for i, box := range boxes {
			got := box.waitFor(t, msgs)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("node %d got %d messages, not exactly 0..%d in order: %v", i, len(got), msgs-1, got)
			}
		}
	})
	t.Run("one call's messages arrive together, in order, once", func(t *testing.T) {
		buses, boxes := startNodes(t)
		batch := []Message{
			{Kind: KindEvent, AppID: "a", Channel: "c1", Payload: []byte(`1`)},
			{Kind: KindEvent, AppID: "a", Channel: "c2", Payload: []byte(`2`)},
			{Kind: KindEvent, AppID: "a", Channel: "c3", Payload: []byte(`3`)},
		}
		if err := buses[0].PublishWait(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if err := buses[nodes-1].PublishWait(context.Background(), []Message{{Kind: KindEvent, AppID: "a", Channel: "c", Payload: []byte(`4`)}}); err != nil {
			t.Fatal(err)
		}
		for i, box := range boxes {
			if got := box.waitFor(t, 4); fmt.Sprint(got) != "[1 2 3 4]" {
				t.Fatalf("node %d got %v, want [1 2 3 4]", i, got)
			}
		}
	})
	t.Run("queued publishes from event loops arrive everywhere, in order", func(t *testing.T) {
		const msgs = 200
		buses, boxes := startNodes(t)
		want := make([]string, msgs)
		for j := range want {
			want[j] = fmt.Sprint(j)
			if err := buses[0].Publish(Message{Kind: KindEvent, AppID: "a", Channel: "c", Payload: []byte(want[j])}); err != nil {
				t.Fatal(err)
			}
		}
		for i, box := range boxes {
			if got := box.waitFor(t, msgs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("node %d got %v", i, got)
			}
		}
	})
	t.Run("fields survive the trip", func(t *testing.T) {
		buses, boxes := startNodes(t)
		want := Message{Kind: KindTerminate, AppID: "app", Channel: "presence-x", Payload: []byte(`{"a":"\u00e9"}`), ExceptSocket: "1.2",
			UserID: "u", Origin: "n", Version: 7, SkipOrigin: true, Cached: true}
		if err := buses[0].PublishWait(context.Background(), []Message{want}); err != nil {
			t.Fatal(err)
		}
		boxes[nodes-1].waitFor(t, 1)
		boxes[nodes-1].mu.Lock()
		defer boxes[nodes-1].mu.Unlock()
		if len(boxes[nodes-1].got) != 1 {
			t.Fatal("message never arrived")
		}
		m := boxes[nodes-1].got[0]
		if m.Kind != want.Kind || m.AppID != want.AppID || m.Channel != want.Channel || string(m.Payload) != string(want.Payload) ||
			m.ExceptSocket != want.ExceptSocket || m.UserID != want.UserID || m.Origin != want.Origin ||
			m.Version != want.Version || m.SkipOrigin != want.SkipOrigin || m.Cached != want.Cached {
			t.Fatalf("got %+v, want %+v", m, want)
		}
	})
	t.Run("a cancelled publish fails", func(t *testing.T) {
		buses, _ := startNodes(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := buses[0].PublishWait(ctx, []Message{{Kind: KindEvent, AppID: "a", Payload: []byte(`1`)}}); err == nil {
			t.Fatal("a publish with a cancelled context succeeded")
		}
	})
	t.Run("closed bus delivers nothing and says so", func(t *testing.T) {
		b := newBus(t)
		box := &inbox{}
		if err := b.Start("n", box.add); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		if err := b.PublishWait(context.Background(), []Message{{Kind: KindEvent, AppID: "a", Payload: []byte(`1`)}}); err == nil {
			t.Fatal("PublishWait on a closed bus succeeded")
		}
		_ = b.Publish(Message{Kind: KindEvent, AppID: "a", Payload: []byte(`2`)})
		time.Sleep(100 * time.Millisecond)
		if got := box.payloads(); len(got) != 0 {
			t.Fatalf("closed bus delivered %v", got)
		}
	})
}

func TestLocalBusContract(t *testing.T) {
	BusContract(t, 1, func(*testing.T) Bus { return NewLocalBus() })
}
