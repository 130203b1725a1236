package hub

import (
	"context"
	"testing"
)

// On a single node the count lives in the channel: it follows joins and
// leaves by name, the HTTP API reads it, and the channel is forgotten only
// once both its subscribers and its count are gone.
func TestLocalOccupancyCountsInTheChannel(t *testing.T) {
	h, a := newTestHub(t, AppConfig{ID: "app", Key: "key", Secret: "secret"})
	if _, ok := h.occupancy.(localOccupancy); !ok {
		t.Fatalf("a hub without shared state counts with %T", h.occupancy)
	}
	ctx := context.Background()
	s1, _ := openSocket(t, h, a)
	s2, _ := openSocket(t, h, a)
	s1.Handle(subscribeMsg("room"))
	s2.Handle(subscribeMsg("room"))
	s1.Handle(subscribeMsg("other"))
	if n, _ := h.occupancy.Count(ctx, "app", "room"); n != 2 {
		t.Fatalf("room counts %d, want 2", n)
	}
	counts, _ := h.occupancy.Channels(ctx, "app")
	if len(counts) != 2 || counts["room"] != 2 || counts["other"] != 1 {
		t.Fatalf("channels %v, want room 2 and other 1", counts)
	}
	info, err := a.Channel(ctx, "room")
	if err != nil || !info.Occupied || info.SubscriptionCount != 2 {
		t.Fatalf("channel info %+v (%v), want occupied with 2", info, err)
	}
	s1.Handle(unsubscribeMsg("room"))
	if n, _ := h.occupancy.Count(ctx, "app", "room"); n != 1 {
		t.Fatalf("room counts %d after a leave, want 1", n)
	}
	s2.Handle(unsubscribeMsg("room"))
	s1.Handle(unsubscribeMsg("other"))
	if n, _ := h.occupancy.Count(ctx, "app", "room"); n != 0 {
		t.Fatalf("room counts %d once empty, want 0", n)
	}
	a.mu.RLock()
	left, stats := a.channels.len(), a.stats.channels
	a.mu.RUnlock()
	if left != 0 {
		t.Fatalf("%d channels kept with no subscriber and no count", left)
	}
	for kind, n := range stats {
		if n != 0 {
			t.Fatalf("stats count %d channels of kind %v, want none", n, kind)
		}
	}
	if n, _ := h.occupancy.Add(ctx, "app", "gone", -1); n != 0 {
		t.Fatalf("a count below zero for an unknown channel: %d", n)
	}
}

// A subscriber leaving while the count still has it does not lose the
// count: the channel stays under its name until the count drops too, so a
// joiner in between is counted with it.
func TestLocalOccupancyKeepsTheChannelUntilUncounted(t *testing.T) {
	h, a := newTestHub(t, AppConfig{ID: "app", Key: "key", Secret: "secret"})
	ctx := context.Background()
	s, _ := openSocket(t, h, a)
	s.Handle(subscribeMsg("room"))
	ch := s.subList()[0].ch
	a.leave(ch, s) // the subscriber is gone, its count not yet
	if n, _ := h.occupancy.Count(ctx, "app", "room"); n != 1 {
		t.Fatalf("room counts %d before the leave is counted, want 1", n)
	}
	other, _ := openSocket(t, h, a)
	if got := a.join("room", ch.kind, other); got != ch {
		t.Fatal("a joiner got a new channel while the old one was still counted")
	}
	if n, _ := h.occupancy.Add(ctx, "app", "room", 1); n != 2 {
		t.Fatalf("joiner counted as %d, want 2", n)
	}
	if n, _ := h.occupancy.Add(ctx, "app", "room", -1); n != 1 {
		t.Fatalf("late leave counted as %d, want 1", n)
	}
	a.leave(ch, other)
	if n, _ := h.occupancy.Add(ctx, "app", "room", -1); n != 0 {
		t.Fatalf("last leave counted as %d, want 0", n)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.channels.len() != 0 {
		t.Fatal("the channel outlived its subscribers and its count")
	}
}
