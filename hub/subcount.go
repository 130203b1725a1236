package hub

import (
	"context"
	"sync"
	"time"

	"github.com/resound/resound/protocol"
)

// pusher_internal:subscription_count. A node whose share of a channel
// changed marks it; once per interval it reads the cluster-wide count and
// publishes it on the bus, so every node's subscribers get it. A burst of
// joins and leaves thus costs one event per interval per channel (per node
// where the count changed).

// subscriptionCountEvery is how often changed counts are sent.
const subscriptionCountEvery = time.Second

// countMarks is the channels whose count changed since the last send.
type countMarks struct {
	mu      sync.Mutex
	changed map[string]struct{}
}

// countsSubscriptions reports whether the channel's subscribers get
// subscription_count: non-presence channels (presence ones have member
// events), never the server's '#' channels, on apps that enable it.
func (a *App) countsSubscriptions(channel string) bool {
	return a.SubscriptionCountEvents && len(channel) > 0 && channel[0] != '#' && !protocol.KindOf(channel).IsPresence()
}

// markCountChanged notes that this node's share of the channel changed.
func (a *App) markCountChanged(channel string) {
	if !a.countsSubscriptions(channel) {
		return
	}
	a.counts.mu.Lock()
	if a.counts.changed == nil {
		a.counts.changed = map[string]struct{}{}
	}
	a.counts.changed[channel] = struct{}{}
	a.counts.mu.Unlock()
}

// recountAll marks every local channel that counts subscriptions: a dead
// node's share was reaped, so their counts may have dropped. The node that
// reaps tells the channels it has subscribers on.
func (h *Hub) recountAll() {
	for _, a := range h.apps {
		if !a.SubscriptionCountEvents {
			continue
		}
		a.mu.RLock()
		names := make([]string, 0, a.channels.len())
		for ch := range a.channels.all() {
			names = append(names, ch.name)
		}
		a.mu.RUnlock()
		for _, name := range names {
			a.markCountChanged(name)
		}
	}
}

// startSubscriptionCounts runs the sender when any app enables the events.
func (h *Hub) startSubscriptionCounts() {
	var apps []*App
	for _, a := range h.apps {
		if a.SubscriptionCountEvents {
			apps = append(apps, a)
		}
	}
	if len(apps) == 0 {
		return
	}
	h.resyncWG.Add(1)
	go func() {
		defer h.resyncWG.Done()
		tick := time.NewTicker(subscriptionCountEvery)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
			for _, a := range apps {
				a.sendSubscriptionCounts()
			}
		}
	}()
}

func (a *App) sendSubscriptionCounts() {
	a.counts.mu.Lock()
	changed := a.counts.changed
	a.counts.changed = nil
	a.counts.mu.Unlock()
	h := a.hub
	for channel := range changed {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, err := h.occupancy.Count(ctx, a.ID, channel)
		cancel()
		if err != nil {
			h.rlog.Printf("subscription-count", "scaling: counting the subscribers of %s failed: %v", channel, err)
			continue
		}
		if n <= 0 {
			continue // nobody left to tell
		}
		_ = h.bus.Publish(Message{Kind: KindEvent, AppID: a.ID, Channel: channel, Payload: protocol.SubscriptionCount(channel, n), Origin: h.nodeID})
	}
}
