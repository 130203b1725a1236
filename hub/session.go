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
	// byName indexes subs by channel name once there are many (see
	// subscriptions.go); nil for the usual handful.
	byName map[string]int32

	// Dispatcher state: frames waiting for this loop's flush.
	pending      [][]byte
	pendingBytes int
	queued       bool
	closed       bool

	// Client-event rate window.
	windowStart int64
	windowCount int
}

type subscription struct {
	name   string
	ch     *Channel
	member *protocol.Member // presence only
	// version is the presence version the member list sent to this socket
	// reflected; older presence news is not delivered.
	version int64
	// join is set while Redis is asked about this presence subscription.
	join *pendingJoin
	// replayed is the cached frame sent on subscribing; its broadcast copy,
	// if still queued, is not sent again.
	replayed []byte
}

// pendingJoin is a presence subscription waiting for Redis. The socket is
// already in the channel so nothing published meanwhile is lost: it is held
// here and sent after subscription_succeeded.
type pendingJoin struct {
	cancelled bool
	held      []heldFrame
}

type heldFrame struct {
	frame   []byte
	version int64
}

// maxHeldFrames bounds what a pending join holds; a join takes one Redis
// round trip, so this is only reached by a flood.
const maxHeldFrames = 1024

// admits decides whether traffic on a presence or cache channel reaches this
// socket: never a cached event it already got by replay, never presence news
// about its own user or already in its member list, and held back while its
// presence join is pending.
func (s *Session) admits(it *delivery) bool {
	sub := s.subOn(it.ch)
	if sub == nil {
		return false
	}
	if sub.replayed != nil && len(it.frame) > 0 && &sub.replayed[0] == &it.frame[0] {
		sub.replayed = nil
		return false
	}
	if !it.ch.kind.IsPresence() {
		return true
	}
	if it.exceptUser != "" && sub.member != nil && sub.member.ID == it.exceptUser {
		return false
	}
	if sub.join != nil {
		if len(sub.join.held) < maxHeldFrames {
			sub.join.held = append(sub.join.held, heldFrame{it.frame, it.version})
		}
		return false
	}
	return it.version == 0 || it.version > sub.version
}

// Open admits a socket to the app. It returns the session, or a Pusher
// error code and message when the app is over its connection quota.
func (h *Hub) Open(a *App, loop int, out Outbox) (*Session, int, string) {
	if max := a.MaxConnections; max > 0 {
		others := 0
		if rc := h.cluster; rc != nil {
			others = rc.remoteConnections(a.ID)
		}
		if a.connections.Add(1)+int64(others) > int64(max) {
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
		if i := s.subIndex(sub.Channel); i >= 0 {
			s.unsubscribeAt(i)
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
	if i := s.subIndex(name); i >= 0 {
		// Already subscribed: confirm again, nothing changes.
		if s.subs[i].join == nil {
			s.resendSucceeded(i)
		}
		return
	}
	if max := a.MaxChannelsPerConnection; max > 0 && len(s.subs) >= max {
		s.refuseOverLimit(name, "This socket is already subscribed to "+itoa(max)+" channels, the app's max_channels_per_connection: unsubscribe from one first", 403)
		return
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
		if max := a.MaxPresenceMemberSize; max > 0 && len(mem.Info) > max {
			s.refuseOverLimit(name, "user_info is "+itoa(len(mem.Info))+" bytes, over the app's max_presence_member_size of "+itoa(max)+" bytes: send less user_info from your authorizer", 413)
			return
		}
		m = &mem
	}
	ch := a.join(name, kind, s)
	if m == nil {
		a.hub.logf("socket %s subscribed to %q (auth ok)", s.ID, name)
		s.sendSucceeded(s.addSub(subscription{name: name, ch: ch}))
		s.replayCache(ch)
		return
	}
	first, version, ok := a.admitMember(ch, *m)
	if !ok {
		a.leave(ch, s)
		s.refuseOverLimit(name, presenceFullMessage(name, a.MaxPresenceMembersPerChannel), 403)
		return
	}
	a.hub.logf("socket %s subscribed to %q (auth ok)", s.ID, name)
	i := s.addSub(subscription{name: name, ch: ch, member: m})
	a.trackUser(m.ID, s, 1)
	if a.hub.cluster != nil {
		s.joinCluster(i, first)
		return
	}
	if first {
		a.broadcastLocal(ch, protocol.MemberAdded(name, m.IDJSON, m.Info), s, m.ID, version)
	}
	s.sendSucceeded(i)
	s.replayCache(ch)
}

// joinCluster registers the presence member of s.subs[i] in Redis off the
// loop, then finishes the subscription back on it. While Redis is down the
// member is served from this node's view alone (firstHere says whether the
// user is new here) and registered when Redis returns.
func (s *Session) joinCluster(i int, firstHere bool) {
	a := s.app
	rc := a.hub.cluster
	pj := &pendingJoin{}
	s.subs[i].join = pj
	ch, m := s.subs[i].ch, *s.subs[i].member
	name, js := ch.name, memberJSON(m)
	queued := rc.run(func() {
		first, version, members, err := rc.join(a.ID, name, m.ID, js)
		s.runOnLoop(func() {
			if pj.cancelled || s.closed {
				if err == nil {
					rc.run(func() { a.leaveCluster(name, m, false) })
				}
				return
			}
			sub := s.subOn(ch)
			if sub == nil || sub.join != pj {
				return
			}
			sub.join = nil
			if err != nil {
				if firstHere {
					a.broadcastLocal(ch, protocol.MemberAdded(name, m.IDJSON, m.Info), s, m.ID, 0)
					a.hub.offline.note(a.ID, name, m, true)
				}
				data, _ := ch.presenceData()
				s.send(protocol.PresenceSucceeded(name, data))
			} else {
				sub.version = version
				if first {
					_ = a.hub.bus.Publish(Message{Kind: KindEvent, AppID: a.ID, Channel: name, ExceptSocket: s.ID, UserID: m.ID,
						Version: version, Payload: protocol.MemberAdded(name, m.IDJSON, m.Info), Origin: a.hub.nodeID})
				}
				s.send(protocol.PresenceSucceeded(name, presenceFromJSON(members)))
			}
			var frames [][]byte
			for _, h := range pj.held {
				if h.version == 0 || h.version > sub.version {
					frames = append(frames, h.frame)
				}
			}
			if len(frames) > 0 {
				s.out.Send(frames...)
			}
			s.replayCache(ch, frames...)
		})
	})
	if !queued {
		s.unsubscribeAt(s.subIndex(name))
		s.send(protocol.SubscriptionError(name, "ServerBusy", "The server is too busy to join presence channels right now: retry", 503))
	}
}

// leaveCluster removes one socket of a user from a presence channel in
// Redis and announces the user's departure when it was their last socket
// anywhere. It runs on the cluster's work goroutine. While Redis is down a
// user whose last socket here left (lastHere) is announced to this node's
// sockets now and to the others once Redis returns.
func (a *App) leaveCluster(channel string, m protocol.Member, lastHere bool) {
	h := a.hub
	left, version, err := h.cluster.leave(a.ID, channel, m.ID)
	if err != nil {
		if lastHere {
			a.mu.RLock()
			ch := a.channels[channel]
			a.mu.RUnlock()
			if ch != nil {
				a.broadcastLocal(ch, protocol.MemberRemoved(channel, m.IDJSON), nil, m.ID, 0)
			}
			h.offline.note(a.ID, channel, m, false)
		}
		return
	}
	if left == "" {
		return
	}
	if msg, ok := h.presenceMessage(presenceChange{app: a.ID, channel: channel, member: left, version: version}); ok {
		_ = h.bus.Publish(msg)
	}
}

// replayCache sends a cache channel's last event, or pusher:cache_miss.
func (s *Session) replayCache(ch *Channel, alreadySent ...[]byte) {
	if !ch.kind.IsCache() {
		return
	}
	a := s.app
	if _, frame := a.cache.get(ch.name, time.Now()); frame != nil {
		for _, sent := range alreadySent {
			if len(sent) > 0 && &sent[0] == &frame[0] {
				return // held while joining and sent just now
			}
		}
		s.out.Send(frame)
		if sub := s.subOn(ch); sub != nil {
			sub.replayed = frame
		}
		return
	}
	rc := a.hub.cluster
	if rc == nil {
		s.send(protocol.CacheMiss(ch.name))
		return
	}
	// Published before this node knew of it: ask Redis, off the loop.
	ok := rc.run(func() {
		p, _ := rc.cacheGet(a.ID, ch.name)
		s.runOnLoop(func() {
			if s.closed {
				return
			}
			if p != nil {
				s.send(p)
			} else {
				s.send(protocol.CacheMiss(ch.name))
			}
		})
	})
	if !ok {
		s.send(protocol.CacheMiss(ch.name))
	}
}

// refuseOverLimit answers a subscription that would break one of the app's
// limits; the socket and its other subscriptions stay.
func (s *Session) refuseOverLimit(channel, why string, status int) {
	s.app.hub.logf("socket %s subscription to %q refused: %s", s.ID, channel, why)
	s.send(protocol.SubscriptionError(channel, "LimitReached", why, status))
}

func (s *Session) authFailed(channel, why string) {
	s.app.hub.logf("socket %s subscription to %q refused: %s", s.ID, channel, why)
	s.send(protocol.SubscriptionError(channel, "AuthError", why, 401))
}

// sendSucceeded confirms s.subs[i], with the member list on presence
// channels (whose version then filters older news).
func (s *Session) sendSucceeded(i int) {
	ch := s.subs[i].ch
	if ch.kind.IsPresence() {
		frame, version := ch.presenceSucceeded(s.app.hub.opts.Frame)
		if s.app.hub.cluster == nil {
			s.subs[i].version = version
		}
		s.out.Send(frame)
		return
	}
	s.send(protocol.SubscriptionSucceeded(ch.name))
}

// resendSucceeded answers a repeated subscribe; on a cluster the member
// list comes from Redis, off the loop.
func (s *Session) resendSucceeded(i int) {
	rc := s.app.hub.cluster
	ch := s.subs[i].ch
	if rc == nil || !ch.kind.IsPresence() {
		s.sendSucceeded(i)
		return
	}
	a := s.app
	rc.run(func() {
		members, err := rc.members(a.ID, ch.name)
		s.runOnLoop(func() {
			if s.closed || s.subOn(ch) == nil {
				return
			}
			if err != nil {
				data, _ := ch.presenceData()
				s.send(protocol.PresenceSucceeded(ch.name, data))
				return
			}
			s.send(protocol.PresenceSucceeded(ch.name, presenceFromJSON(members)))
		})
	})
}

func (s *Session) unsubscribeAt(i int) {
	sub := s.removeSubAt(i)
	a := s.app
	a.leave(sub.ch, s)
	if sub.member == nil {
		return
	}
	a.trackUser(sub.member.ID, s, -1)
	lastHere, version := sub.ch.removeMember(sub.member.ID)
	if sub.join != nil {
		sub.join.cancelled = true // the join's completion undoes it in Redis
		return
	}
	if rc := a.hub.cluster; rc != nil {
		m, name := *sub.member, sub.ch.name
		if !rc.run(func() { a.leaveCluster(name, m, lastHere) }) {
			rc.resyncWant.Store(true)
		}
		return
	}
	if lastHere {
		a.broadcastLocal(sub.ch, protocol.MemberRemoved(sub.ch.name, sub.member.IDJSON), s, sub.member.ID, version)
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
	if i := s.subIndex(msg.Channel); i >= 0 {
		sub = &s.subs[i]
	}
	if sub == nil || sub.join != nil {
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
