package hub

import (
	"context"
	"strings"
	"testing"
	"time"
)

// offLoopOccupancy is a MemoryOccupancy the hub must not call in place, so
// joins and leaves go through the workers as they do with Redis.
type offLoopOccupancy struct{ Occupancy }

// clusterLikeHub has one loop whose work waits until the test runs it, and
// shared state registered off the loop.
func clusterLikeHub(t *testing.T, app AppConfig) (*Hub, *App, *heldLoop) {
	app.ID, app.Key, app.Secret = "app", "key", "secret"
	h, err := New([]AppConfig{app}, Options{Loops: 1,
		Frame: func(p []byte) []byte { return p }, Occupancy: offLoopOccupancy{NewMemoryOccupancy()}})
	if err != nil {
		t.Fatal(err)
	}
	if h.inline {
		t.Fatal("the shared state is called in place")
	}
	loop := &heldLoop{}
	h.AttachLoop(0, loop)
	t.Cleanup(func() { _ = h.Close() })
	return h, h.AppByID("app"), loop
}

// waitFor polls cond (the workers run on their own goroutines) with a
// generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (l *heldLoop) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fns)
}

func countOf(h *Hub, channel string) int {
	n, _ := h.occupancy.Count(context.Background(), "app", channel)
	return n
}

// A subscription keeps its joining state only until it is confirmed; one
// confirmed and then left is taken back from the shared count.
func TestSubscriptionDropsItsStateOnceConfirmed(t *testing.T) {
	h, a, loop := clusterLikeHub(t, AppConfig{})
	s, out := openSocket(t, h, a)
	s.Handle(subscribeMsg("news"))
	if !s.subList()[0].pending() {
		t.Fatal("the subscription is not pending while the shared state registers it")
	}
	waitFor(t, "the confirmation queued to the loop", func() bool { return loop.queued() > 0 })
	loop.run()
	if s.subList()[0].st != nil {
		t.Fatal("a confirmed subscription to a plain channel keeps its joining state")
	}
	if got := out.events(t); len(got) != 1 || got[0] != "pusher_internal:subscription_succeeded" {
		t.Fatalf("the socket got %v, want subscription_succeeded", got)
	}
	if n := countOf(h, "news"); n != 1 {
		t.Fatalf("shared count %d after the join, want 1", n)
	}
	s.Handle(unsubscribeMsg("news"))
	waitFor(t, "the shared count to drop to 0", func() bool { return countOf(h, "news") == 0 })
}

// A socket that leaves while its join is still being registered is taken
// back from the shared count once the join lands, and is never confirmed.
func TestSubscriptionLeftWhileJoiningIsUndone(t *testing.T) {
	h, a, loop := clusterLikeHub(t, AppConfig{})
	s, out := openSocket(t, h, a)
	s.Handle(subscribeMsg("news"))
	s.Handle(unsubscribeMsg("news"))
	if int(s.nsubs) != 0 || s.joining != 0 {
		t.Fatalf("%d subscriptions and %d joins left after unsubscribing", int(s.nsubs), s.joining)
	}
	waitFor(t, "the join to be registered and undone", func() bool { return loop.queued() > 0 && countOf(h, "news") == 0 })
	loop.run()
	for _, e := range out.events(t) {
		if strings.Contains(e, "subscription_succeeded") {
			t.Fatal("a subscription cancelled while joining was confirmed")
		}
	}
}

// A presence join refused as full registered nothing: when its socket left
// while it was being registered, the leave must not take back a count the
// join never added.
func TestSubscriptionRefusedWhileLeavingTakesNothingBack(t *testing.T) {
	h, a, loop := clusterLikeHub(t, AppConfig{MaxPresenceMembersPerChannel: 1})
	join := func(uid string) (*Session, *recordingOutbox) {
		s, out := openSocket(t, h, a)
		s.Handle(presenceSubscribeData(s, "presence-room", `{"user_id":"`+uid+`"}`))
		return s, out
	}
	// settle runs the loop's work until out is confirmed and the shared
	// count is want.
	settle := func(out *recordingOutbox, want int) {
		t.Helper()
		waitFor(t, "a confirmation and a shared count of "+itoa(want), func() bool {
			loop.run()
			return len(out.events(t)) > 0 && countOf(h, "presence-room") == want
		})
	}
	_, first := join("u1")
	settle(first, 1)
	if got := first.events(t); len(got) != 1 || got[0] != "pusher_internal:subscription_succeeded" {
		t.Fatalf("u1 got %v", got)
	}
	full, _ := join("u2") // over max_presence_members_per_channel
	full.Handle(unsubscribeMsg("presence-room"))
	// Joins and leaves of one channel are registered in order: u1's second
	// tab lands after the refused join's leave.
	_, tab := join("u1")
	settle(tab, 2)
	if got := tab.events(t); len(got) != 1 || got[0] != "pusher_internal:subscription_succeeded" {
		t.Fatalf("u1's second tab got %v", got)
	}
}
