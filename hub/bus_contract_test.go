package hub

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// BusContract is what every Bus must do. newBus returns a bus of one
// cluster (buses from one test share a backend); nodes is how many of them
// make a cluster: 1 for LocalBus, several for a networked bus.
func BusContract(t *testing.T, nodes int, newBus func(t *testing.T) Bus) {
	t.Run("every node receives every message once, in order", func(t *testing.T) {
		const msgs = 200
		type inbox struct {
			mu  sync.Mutex
			got []string
		}
		boxes := make([]*inbox, nodes)
		buses := make([]Bus, nodes)
		for i := range buses {
			box := &inbox{}
			boxes[i] = box
			buses[i] = newBus(t)
			if err := buses[i].Start(fmt.Sprintf("node-%d", i), func(m Message) {
				box.mu.Lock()
				box.got = append(box.got, string(m.Payload))
				box.mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = buses[i].Close() })
		}
		for j := 0; j < msgs; j++ {
			if err := buses[j%nodes].Publish(Message{Kind: KindEvent, AppID: "a", Channel: "c", Payload: []byte(fmt.Sprint(j))}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for i, box := range boxes {
			for {
				box.mu.Lock()
				n := len(box.got)
				box.mu.Unlock()
				if n >= msgs || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			box.mu.Lock()
			if len(box.got) != msgs {
				t.Fatalf("node %d got %d of %d messages", i, len(box.got), msgs)
			}
			box.mu.Unlock()
		}
		// Every node sees the same order.
		for i := 1; i < nodes; i++ {
			for j := range boxes[0].got {
				if boxes[i].got[j] != boxes[0].got[j] {
					t.Fatalf("node %d differs from node 0 at %d: %s vs %s", i, j, boxes[i].got[j], boxes[0].got[j])
				}
			}
		}
	})
	t.Run("fields survive the trip", func(t *testing.T) {
		b := newBus(t)
		got := make(chan Message, 1)
		if err := b.Start("n", func(m Message) { got <- m }); err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		want := Message{Kind: KindTerminate, AppID: "app", Channel: "presence-x", Payload: []byte(`{"a":"\u00e9"}`), ExceptSocket: "1.2", UserID: "u", Origin: "n"}
		if err := b.Publish(want); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m.Kind != want.Kind || m.AppID != want.AppID || m.Channel != want.Channel || string(m.Payload) != string(want.Payload) ||
				m.ExceptSocket != want.ExceptSocket || m.UserID != want.UserID || m.Origin != want.Origin {
				t.Fatalf("got %+v, want %+v", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("message never arrived")
		}
	})
	t.Run("closed bus delivers nothing", func(t *testing.T) {
		b := newBus(t)
		n := 0
		var mu sync.Mutex
		if err := b.Start("n", func(Message) { mu.Lock(); n++; mu.Unlock() }); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		_ = b.Publish(Message{Kind: KindEvent, AppID: "a"})
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if n != 0 {
			t.Fatalf("closed bus delivered %d", n)
		}
	})
}

func TestLocalBusContract(t *testing.T) {
	BusContract(t, 1, func(*testing.T) Bus { return NewLocalBus() })
}
