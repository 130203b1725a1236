package hub

import (
	"time"

	"github.com/resound/resound/protocol"
)

// Session is the hub's state for one socket. Every method runs on the
// socket's own loop goroutine.
type Session struct {
	ID   string
	app  *App
	out  Outbox
	loop int

	subs []subscription

	// Dispatcher state: frames waiting for this loop's flush.
	pending [][]byte
	queued  bool
	closed  bool

	// Client-event rate window.
	windowStart int64
	windowCount int
}

type subscription struct {
	ch     *Channel
	member *protocol.Member // presence only
}

// Open admits a socket to the app. It returns the session, or a Pusher
// error code and message when the app is over its connection quota.
func (h *Hub) Open(a *App, loop int, out Outbox) (*Session, int, string) {
	if max := a.MaxConnections; max > 0 {
		if a.connections.Add(1) > int64(max) {
			a.connections.Add(-1)
			return nil, protocol.ErrOverQuota, "Application is over connection quota: max_connections is " + itoa(max)
		}
	} else {
		a.connections.Add(1)
	}
	s := &Session{app: a, out: out, loop: loop}
	a.mu.Lock()
	for {
		s.ID = newSocketID()
		if _, taken := a.sockets[s.ID]; !taken {
			break
		}
	}
	a.sockets[s.ID] = s
	a.mu.Unlock()
	return s, 0, ""
}

// App is the session's app.
func (s *Session) App() *App { return s.app }

// Established is the first message the socket must receive.
func (s *Session) Established() []byte {
	return protocol.ConnectionEstablished(s.ID, s.app.ActivityTimeout)
}

// Close leaves every channel (firing presence leaves) and forgets the socket.
func (s *Session) Close() {
	if s.closed {
		return
	}
	s.closed = true
	for len(s.subs) > 0 {
		s.unsubscribeAt(len(s.subs) - 1)
	}
	a := s.app
	a.mu.Lock()
	delete(a.sockets, s.ID)
	a.mu.Unlock()
	a.connections.Add(-1)
	s.pending = nil
}

// send writes one payload to this socket now.
func (s *Session) send(payload []byte) {
	s.out.Send(s.app.hub.opts.Frame(payload))
}

func (s *Session) runOnLoop(fn func()) {
	d := s.app.hub.loops[s.loop]
	d.mu.Lock()
	exec := d.exec
	d.mu.Unlock()
	if exec != nil {
		exec.Execute(fn)
	}
}

// Handle carries out one text message from the client.
func (s *Session) Handle(payload []byte) {
	msg, err := protocol.DecodeClientMessage(payload)
	if err != nil {
		s.send(protocol.Error(protocol.ErrReconnect, err.Error()))
		return
	}
	h := s.app.hub
	switch msg.Event {
	case "pusher:ping":
		s.send(protocol.Pong)
	case "pusher:pong":
		// Activity was already recorded by the engine.
	case "pusher:subscribe":
		s.subscribe(msg.Data)
	case "pusher:unsubscribe":
		sub, err := protocol.DecodeSubscribe(msg.Data)
		if err != nil {
			s.send(protocol.Error(protocol.ErrReconnect, err.Error()))
			return
		}
		for i := range s.subs {
			if s.subs[i].ch.name == sub.Channel {
				s.unsubscribeAt(i)
				break
			}
		}
		h.logf("socket %s unsubscribed from %q", s.ID, sub.Channel)
	default:
		if len(msg.Event) > 7 && msg.Event[:7] == "client-" {
			s.whisper(msg)
			return
		}
		if len(msg.Event) > 7 && msg.Event[:7] == "pusher:" || len(msg.Event) > 16 && msg.Event[:16] == "pusher_internal:" {
			s.send(protocol.Error(protocol.ErrReconnect, "Unsupported event "+quote(msg.Event)+": this server accepts pusher:ping, pusher:pong, pusher:subscribe, pusher:unsubscribe and client-* events"))
			return
		}
		s.send(protocol.Error(protocol.ErrClientEvent, "Client event names must start with \"client-\", got "+quote(msg.Event)))
	}
}

func (s *Session) subscribe(data []byte) {
	a := s.app
	sub, err := protocol.DecodeSubscribe(data)
	if err != nil {
		s.send(protocol.Error(protocol.ErrReconnect, err.Error()))
		return
	}
	name := sub.Channel
	if !protocol.ValidChannelName(name) {
		s.send(protocol.SubscriptionError(name, "InvalidChannel",
			"Invalid channel name: use 1-164 characters from a-z A-Z 0-9 - _ = @ , . ;", 400))
		return
	}
	for _, existing := range s.subs {
		if existing.ch.name == name {
			// Already subscribed: confirm again, nothing changes.
			s.sendSucceeded(existing.ch)
			return
		}
	}
	kind := protocol.KindOf(name)
	if kind.NeedsAuth() {
		if sub.Auth == "" {
			s.authFailed(name, "Missing auth: private and presence channels need \"auth\" from your authorizer endpoint")
			return
		}
		if !protocol.VerifyChannelAuth(a.Key, a.Secret, s.ID, name, sub.ChannelData, sub.Auth) {
			s.authFailed(name, "Invalid signature: expected \"<app key>:<hex HMAC-SHA256 of socket_id:channel_name[:channel_data]>\" signed with this app's secret")
			return
		}
	}
	var m *protocol.Member
	if kind.IsPresence() {
		mem, err := protocol.DecodeMember(sub.ChannelData)
		if err != nil {
			s.authFailed(name, err.Error())
			return
		}
		m = &mem
	}
	ch := a.join(name, kind, s)
	s.subs = append(s.subs, subscription{ch: ch, member: m})
	if m != nil {
		a.trackUser(m.ID, s, 1)
		if ch.addMember(*m) {
			a.broadcastLocal(ch, protocol.MemberAdded(name, m.IDJSON, m.Info), s)
		}
	}
	a.hub.logf("socket %s subscribed to %q (auth ok)", s.ID, name)
	s.sendSucceeded(ch)
	if kind.IsCache() {
		if cached := a.cache.get(name, time.Now()); cached != nil {
			s.send(cached)
		} else {
			s.send(protocol.CacheMiss(name))
		}
	}
}

func (s *Session) authFailed(channel, why string) {
	s.app.hub.logf("socket %s subscription to %q refused: %s", s.ID, channel, why)
	s.send(protocol.SubscriptionError(channel, "AuthError", why, 401))
}

func (s *Session) sendSucceeded(ch *Channel) {
	if ch.kind.IsPresence() {
		s.send(protocol.PresenceSucceeded(ch.name, ch.presenceData()))
		return
	}
	s.send(protocol.SubscriptionSucceeded(ch.name))
}

func (s *Session) unsubscribeAt(i int) {
	sub := s.subs[i]
	last := len(s.subs) - 1
	s.subs[i] = s.subs[last]
	s.subs[last] = subscription{}
	s.subs = s.subs[:last]
	a := s.app
	a.leave(sub.ch, s)
	if sub.member != nil {
		a.trackUser(sub.member.ID, s, -1)
		if sub.ch.removeMember(sub.member.ID) {
			a.broadcastLocal(sub.ch, protocol.MemberRemoved(sub.ch.name, sub.member.IDJSON), s)
		}
	}
}

func (s *Session) whisper(msg protocol.ClientMessage) {
	a := s.app
	if a.AcceptClientEventsFrom == "none" {
		s.send(protocol.Error(protocol.ErrClientEvent, "The app does not have client messaging enabled (accept_client_events_from is none)"))
		return
	}
	kind := protocol.KindOf(msg.Channel)
	if kind == protocol.Encrypted {
		s.send(protocol.Error(protocol.ErrClientEvent, "Client events are not allowed on encrypted channels: "+quote(msg.Channel)))
		return
	}
	if !kind.AllowsClientEvents() {
		s.send(protocol.Error(protocol.ErrClientEvent, "Client events are only allowed on private and presence channels, not "+quote(msg.Channel)))
		return
	}
	var sub *subscription
	for i := range s.subs {
		if s.subs[i].ch.name == msg.Channel {
			sub = &s.subs[i]
			break
		}
	}
	if sub == nil {
		s.send(protocol.Error(protocol.ErrClientEvent, "Client event rejected: subscribe to "+quote(msg.Channel)+" before sending to it"))
		return
	}
	now := time.Now().Unix()
	if now != s.windowStart {
		s.windowStart, s.windowCount = now, 0
	}
	s.windowCount++
	if s.windowCount > a.ClientEventsPerSecond {
		s.send(protocol.Error(protocol.ErrClientEvent, "Client event rejected: rate limit of "+itoa(a.ClientEventsPerSecond)+" client events per second exceeded"))
		return
	}
	userID := ""
	if sub.member != nil {
		userID = sub.member.ID
	}
	payload := protocol.ClientEvent(msg.Event, msg.Channel, msg.Data, userID)
	_ = a.hub.bus.Publish(Message{Kind: KindEvent, AppID: a.ID, Channel: msg.Channel, Payload: payload, ExceptSocket: s.ID, Origin: a.hub.nodeID})
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return string(protocol.AppendString(nil, s))
}

func itoa(n int) string { return string(appendInt(nil, n)) }
