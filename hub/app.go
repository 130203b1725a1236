package hub

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resound/resound/protocol"
)

// App is one application's live state on this node.
type App struct {
	AppConfig
	hub *Hub
	// frame is the hub's Frame or the app's own (Options.AppFrame).
	frame func(payload []byte) []byte

	connections atomic.Int64
	stats       appStats

	mu       sync.RWMutex
	channels channelIndex
	sockets  socketTable
	// users is the sockets of each presence user_id, for
	// terminate_connections.
	users presenceUsers
	// signins is the app's signed-in sockets and who is online.
	signins userIndex
	// counts is the channels whose subscription_count is due.
	counts countMarks
}

func newApp(h *Hub, c AppConfig) *App {
	a := &App{
		AppConfig: c,
		hub:       h,
		frame:     h.opts.Frame,
		channels:  newChannelIndex(),
		sockets:   newSocketTable(),
	}
	if h.opts.AppFrame != nil {
		if f := h.opts.AppFrame(c); f != nil {
			a.frame = f
		}
	}
	return a
}

// Connections counts the app's sockets on this node.
func (a *App) Connections() int { return int(a.connections.Load()) }

// ClusterConnections counts sockets on every node (this node exactly, the
// others as last shared).
func (a *App) ClusterConnections() int {
	return a.Connections() + a.hub.occupancy.OtherConnections(a.ID)
}

// ChannelInfo is what the HTTP API reports about one channel.
type ChannelInfo struct {
	Name              string
	Kind              protocol.Kind
	Occupied          bool
	SubscriptionCount int
	UserCount         int
}

// Channels lists occupied channels whose name starts with prefix, on every
// node. User counts are filled for presence channels when withUsers is set.
func (a *App) Channels(ctx context.Context, prefix string, withUsers bool) ([]ChannelInfo, error) {
	counts, err := a.hub.occupancy.Channels(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	out := make([]ChannelInfo, 0, len(counts))
	for name, n := range counts {
		if n <= 0 || !strings.HasPrefix(name, prefix) {
			continue
		}
		ci := ChannelInfo{Name: name, Kind: protocol.KindOf(name), Occupied: true, SubscriptionCount: n}
		if withUsers && ci.Kind.IsPresence() {
			if ci.UserCount, err = a.hub.presence.Count(ctx, a.ID, name); err != nil {
				return nil, err
			}
		}
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Channel describes one channel across the cluster; an unknown channel is
// unoccupied.
func (a *App) Channel(ctx context.Context, name string) (ChannelInfo, error) {
	ci := ChannelInfo{Name: name, Kind: protocol.KindOf(name)}
	n, err := a.hub.occupancy.Count(ctx, a.ID, name)
	if err != nil {
		return ci, err
	}
	ci.SubscriptionCount, ci.Occupied = n, n > 0
	if ci.Kind.IsPresence() {
		if ci.UserCount, err = a.hub.presence.Count(ctx, a.ID, name); err != nil {
			return ci, err
		}
	}
	return ci, nil
}

// Users lists the unique user ids on a presence channel, cluster-wide.
func (a *App) Users(ctx context.Context, name string) ([]string, error) {
	list, err := a.hub.presence.Members(ctx, a.ID, name)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list.Members))
	for id := range decodeMembers(list.Members) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// CachedEvent returns the payload a cache channel would replay, or nil.
func (a *App) CachedEvent(ctx context.Context, channel string) []byte {
	p, _, err := a.hub.cache.Get(ctx, a.ID, channel)
	if err != nil {
		a.hub.rlog.Printf("cache-get", "cache: reading the last event of %s failed: %v", channel, err)
	}
	return p
}

// Event is one event an HTTP API call publishes to one or more channels.
type Event struct {
	Name     string
	Data     string
	Channels []string
	// ExceptSocket is a socket_id that must not receive the event.
	ExceptSocket string
}

// ErrBusUnavailable wraps every error of a publish the bus did not take: the
// caller answers 503 and may retry, since nothing was delivered. An error
// that is also ErrUnconfirmed is the exception: the bus may have taken it.
var ErrBusUnavailable = errors.New("the bus did not take the event")

// Publish sends events from the HTTP API to every subscriber of their
// channels on every node. It returns once the bus has taken every event (all
// of them as one unit), so a publisher that waits for the answer keeps its
// order cluster-wide; an error (wrapping ErrBusUnavailable) means none of
// them was delivered, anywhere, unless it also wraps ErrUnconfirmed.
func (a *App) Publish(ctx context.Context, events []Event) error {
	n := 0
	for _, e := range events {
		n += len(e.Channels)
	}
	msgs := make([]Message, 0, n)
	ttl := time.Duration(a.CacheTTL) * time.Second
	for _, e := range events {
		for _, name := range e.Channels {
			msgs = append(msgs, Message{Kind: KindEvent, AppID: a.ID, Channel: name, Payload: protocol.AppEvent(e.Name, name, e.Data),
				ExceptSocket: e.ExceptSocket, Origin: a.hub.nodeID, Cached: protocol.KindOf(name).IsCache(), CacheTTL: ttl,
				Event: e.Name, Data: e.Data})
		}
	}
	start := time.Now()
	err := a.hub.bus.PublishWait(ctx, msgs)
	if obs := a.hub.opts.Observer; obs != nil {
		obs.BusPublished(time.Since(start), err)
	}
	if err != nil {
		return busError(err)
	}
	return nil
}

// TerminateUser closes every socket of a user on every node: those signed
// in as the user and those with a presence subscription as the user.
func (a *App) TerminateUser(ctx context.Context, userID string) error {
	if err := a.hub.bus.PublishWait(ctx, []Message{{Kind: KindTerminate, AppID: a.ID, UserID: userID, Origin: a.hub.nodeID}}); err != nil {
		return busError(err)
	}
	return nil
}

// busError wraps a failed publish so callers can tell "not taken" from
// "not confirmed" with errors.Is.
func busError(err error) error {
	if errors.Is(err, ErrUnconfirmed) {
		return fmt.Errorf("%w: %w", ErrBusUnavailable, err)
	}
	return fmt.Errorf("%w: %v", ErrBusUnavailable, err)
}

// receive carries out a bus message on this node.
func (h *Hub) receive(m Message) {
	a := h.apps[m.AppID]
	if a == nil || (m.SkipOrigin && m.Origin == h.nodeID) {
		return
	}
	switch m.Kind {
	case KindEvent:
		a.deliver(m)
	case KindTerminate:
		a.terminateLocal(m.UserID)
	}
}

func (a *App) deliver(m Message) {
	if m.Cached && m.Origin == a.hub.nodeID && a.hub.cacheOnDeliver {
		// In bus order and before any fan-out, so a publish answered 503 is
		// never cached and a subscriber never reads an older event than the
		// one it is sent next. A cache stored by the bus needs nothing here.
		_ = a.hub.cache.Put(context.Background(), a.ID, m.Channel, m.Payload, m.Order, m.CacheTTL)
	}
	a.mu.RLock()
	ch := a.channels.get(m.Channel)
	var except *Session
	if m.ExceptSocket != "" {
		except = a.sockets.find(m.ExceptSocket)
	}
	a.mu.RUnlock()
	if ch == nil {
		return
	}
	// Framed (and compressed) only where someone subscribes: every node
	// of a cluster hears every event.
	frame := a.frame(m.Payload)
	if m.Cached {
		ch.last.Store(&lastFrame{frame: frame, order: m.Order, expires: time.Now().Add(time.Duration(a.CacheTTL) * time.Second)})
	}
	it := delivery{ch: ch, except: except, exceptUser: m.UserID, version: m.Version, frame: frame, cached: m.Cached, order: m.Order}
	if obs := a.hub.opts.Observer; obs != nil {
		it.track = newFanOutTrack(obs, len(a.hub.loops))
	}
	a.fanOut(it)
}

func (a *App) terminateLocal(userID string) {
	a.mu.RLock()
	victims := a.users.sockets(userID)
	if signed := a.signins.byUser[userID]; len(signed) > 0 {
		listed := make(map[*Session]bool, len(victims))
		for _, s := range victims {
			listed[s] = true
		}
		for s := range signed {
			if !listed[s] {
				victims = append(victims, s)
			}
		}
	}
	a.mu.RUnlock()
	for _, s := range victims {
		s.runOnLoop(func() {
			if !s.closed {
				s.out.Kick(protocol.ErrUnauthorized, "Connection terminated by the server for user "+userID)
			}
		})
	}
}

// join registers a subscription of s to the channel and returns it.
func (a *App) join(name string, kind protocol.Kind, s *Session) *Channel {
	a.mu.Lock()
	ch := a.channels.get(name)
	if ch == nil {
		if a.hub.localPresence {
			ch = newChannel(name, kind, len(a.hub.loops))
		} else {
			ch = newClusterChannel(name, kind, len(a.hub.loops))
		}
		a.channels.put(ch)
		a.stats.channels[ch.kind]++
	}
	ch.subscriptions++
	a.stats.subscriptions[ch.kind]++
	a.mu.Unlock()
	ch.loop(int(s.loop)).add(s)
	return ch
}

// leave undoes join; the channel disappears with its last subscriber.
func (a *App) leave(ch *Channel, s *Session) {
	ch.loop(int(s.loop)).remove(s)
	a.mu.Lock()
	ch.subscriptions--
	a.stats.subscriptions[ch.kind]--
	a.forgetIfUnusedLocked(ch)
	a.mu.Unlock()
}

// forgetIfUnusedLocked drops a channel with no subscriber and no count left
// (the count is only ever kept here on a single node); the caller holds
// a.mu.
func (a *App) forgetIfUnusedLocked(ch *Channel) {
	if ch.subscriptions == 0 && ch.occupancy == 0 && a.channels.remove(ch) {
		a.stats.channels[ch.kind]--
	}
}

func (a *App) trackUser(userID string, s *Session, delta int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if delta > 0 {
		a.users.add(userID, s)
	} else {
		a.users.remove(userID, s)
	}
}

// fanOut queues one delivery on every loop that has subscribers of its
// channel. A timed delivery counts down once per loop it skips here and once
// per loop that writes it, and once for this call, so it reports only after
// the last loop, however they interleave.
func (a *App) fanOut(it delivery) {
	for i, d := range a.hub.loops {
		if it.ch.loop(i).occupied() {
			d.push(it)
		} else if it.track != nil {
			it.track.done()
		}
	}
	if it.track != nil {
		it.track.done()
	}
}
