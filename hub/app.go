package hub

import (
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

	connections atomic.Int64

	mu       sync.RWMutex
	channels map[string]*Channel
	sockets  map[string]*Session
	// users maps a presence user_id to its sockets (with how many presence
	// subscriptions each has), for terminate_connections.
	users map[string]map[*Session]int

	cache eventCache
}

func newApp(h *Hub, c AppConfig) *App {
	return &App{
		AppConfig: c,
		hub:       h,
		channels:  map[string]*Channel{},
		sockets:   map[string]*Session{},
		users:     map[string]map[*Session]int{},
		cache:     eventCache{ttl: time.Duration(c.CacheTTL) * time.Second},
	}
}

// Connections is the number of sockets open on this node.
func (a *App) Connections() int { return int(a.connections.Load()) }

// ChannelInfo is what the HTTP API reports about one channel.
type ChannelInfo struct {
	Name              string
	Kind              protocol.Kind
	Occupied          bool
	SubscriptionCount int
	UserCount         int
}

// Channels lists occupied channels whose name starts with prefix.
func (a *App) Channels(prefix string) []ChannelInfo {
	a.mu.RLock()
	out := make([]ChannelInfo, 0, len(a.channels))
	for name, ch := range a.channels {
		if strings.HasPrefix(name, prefix) {
			out = append(out, ch.info())
		}
	}
	a.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Channel describes one channel; an unknown channel is unoccupied.
func (a *App) Channel(name string) ChannelInfo {
	a.mu.RLock()
	ch := a.channels[name]
	a.mu.RUnlock()
	if ch == nil {
		return ChannelInfo{Name: name, Kind: protocol.KindOf(name)}
	}
	return ch.info()
}

// Users lists the unique user ids on a presence channel.
func (a *App) Users(name string) []string {
	a.mu.RLock()
	ch := a.channels[name]
	a.mu.RUnlock()
	if ch == nil {
		return []string{}
	}
	return ch.userIDs()
}

// CachedEvent returns the payload a cache channel would replay, or nil.
func (a *App) CachedEvent(channel string) []byte { return a.cache.get(channel, time.Now()) }

// Publish sends an event from the HTTP API to every subscriber of each
// channel on every node, except the socket exceptSocket.
func (a *App) Publish(channels []string, event, data, exceptSocket string) error {
	for _, name := range channels {
		payload := protocol.AppEvent(event, name, data)
		if err := a.hub.bus.Publish(Message{
			Kind: KindEvent, AppID: a.ID, Channel: name, Payload: payload,
			ExceptSocket: exceptSocket, Origin: a.hub.nodeID,
		}); err != nil {
			return err
		}
	}
	return nil
}

// TerminateUser closes every socket of a user on every node.
func (a *App) TerminateUser(userID string) error {
	return a.hub.bus.Publish(Message{Kind: KindTerminate, AppID: a.ID, UserID: userID, Origin: a.hub.nodeID})
}

// receive carries out a bus message on this node.
func (h *Hub) receive(m Message) {
	a := h.apps[m.AppID]
	if a == nil {
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
	if protocol.KindOf(m.Channel).IsCache() {
		a.cache.put(m.Channel, m.Payload, time.Now())
	}
	a.mu.RLock()
	ch := a.channels[m.Channel]
	var except *Session
	if m.ExceptSocket != "" {
		except = a.sockets[m.ExceptSocket]
	}
	a.mu.RUnlock()
	if ch == nil {
		return
	}
	frame := a.hub.opts.Frame(m.Payload)
	for i, d := range a.hub.loops {
		if ch.loopCount[i].Load() > 0 {
			d.push(delivery{ch: ch, except: except, frame: frame})
		}
	}
}

func (a *App) terminateLocal(userID string) {
	a.mu.RLock()
	var victims []*Session
	for s := range a.users[userID] {
		victims = append(victims, s)
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
	ch := a.channels[name]
	if ch == nil {
		ch = newChannel(name, kind, len(a.hub.loops))
		a.channels[name] = ch
	}
	ch.subscriptions++
	a.mu.Unlock()
	ch.subs[s.loop][s] = struct{}{}
	ch.loopCount[s.loop].Add(1)
	return ch
}

// leave undoes join; the channel disappears with its last subscriber.
func (a *App) leave(ch *Channel, s *Session) {
	delete(ch.subs[s.loop], s)
	ch.loopCount[s.loop].Add(-1)
	a.mu.Lock()
	ch.subscriptions--
	if ch.subscriptions == 0 && a.channels[ch.name] == ch {
		delete(a.channels, ch.name)
	}
	a.mu.Unlock()
}

func (a *App) trackUser(userID string, s *Session, delta int) {
	a.mu.Lock()
	set := a.users[userID]
	if set == nil {
		set = map[*Session]int{}
		a.users[userID] = set
	}
	set[s] += delta
	if set[s] <= 0 {
		delete(set, s)
		if len(set) == 0 {
			delete(a.users, userID)
		}
	}
	a.mu.Unlock()
}

// broadcastLocal sends a payload to this node's subscribers of ch except one.
func (a *App) broadcastLocal(ch *Channel, payload []byte, except *Session) {
	frame := a.hub.opts.Frame(payload)
	for i, d := range a.hub.loops {
		if ch.loopCount[i].Load() > 0 {
			d.push(delivery{ch: ch, except: except, frame: frame})
		}
	}
}
