package hub

import "context"

// localOccupancy is Occupancy for one node, counted in the Channels
// themselves: the app already keys each channel by name, so a second map
// entry per channel (tens of bytes for every socket with a channel of its
// own) would only repeat it. A count is guarded by the app's mu, and a
// channel stays in the app's map until both its subscriptions and its count
// are gone, so the count is kept by name exactly as a separate map would.
type localOccupancy struct{ hub *Hub }

func (o localOccupancy) Start(string, func(string) int) error { return nil }

func (o localOccupancy) Add(_ context.Context, app, channel string, delta int) (int, error) {
	a := o.hub.apps[app]
	if a == nil {
		return 0, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := a.channels.get(channel)
	if ch == nil {
		// Counts follow joins, which made the channel first.
		return max(delta, 0), nil
	}
	n := max(int(ch.occupancy)+delta, 0)
	ch.occupancy = int32(n)
	a.forgetIfUnusedLocked(ch)
	return n, nil
}

// Sync sets the count: on one node, its share is the whole.
func (o localOccupancy) Sync(ctx context.Context, app, channel string, n int) error {
	a := o.hub.apps[app]
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ch := a.channels.get(channel); ch != nil {
		ch.occupancy = int32(max(n, 0))
		a.forgetIfUnusedLocked(ch)
	}
	return nil
}

func (o localOccupancy) Channels(_ context.Context, app string) (map[string]int, error) {
	out := map[string]int{}
	a := o.hub.apps[app]
	if a == nil {
		return out, nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	for ch := range a.channels.all() {
		if ch.occupancy > 0 {
			out[ch.name] = int(ch.occupancy)
		}
	}
	return out, nil
}

func (o localOccupancy) Count(_ context.Context, app, channel string) (int, error) {
	a := o.hub.apps[app]
	if a == nil {
		return 0, nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if ch := a.channels.get(channel); ch != nil {
		return int(ch.occupancy), nil
	}
	return 0, nil
}

func (localOccupancy) inline() {}

// OtherConnections is zero: there are no other nodes.
func (localOccupancy) OtherConnections(string) int { return 0 }

func (localOccupancy) Reap(context.Context, string) ([]ChannelRef, error) { return nil, nil }
func (localOccupancy) Close() error                                       { return nil }
