package hub

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/resound/resound/protocol"
)

// Session is the hub's state for one socket. Every method runs on the
// socket's own loop goroutine.
type Session struct {
	app  *App
	out  Outbox
	loop int32

	// joining counts subscriptions waiting for the shared state; while
	// any does, the dispatcher asks admits about every delivery.
	joining int32

	// subs is the first of nsubs subscriptions in room for subsCap (see
	// subscriptions.go): two 32-bit counts rather than a slice header keep
	// a Session in the 96-byte size class.
	subs           *subscription
	nsubs, subsCap int32

	// Dispatcher state: frames waiting for this loop's flush. The 32-bit
	// fields and bools keep a Session in the 96-byte size class.
	pending      [][]byte
	pendingBytes int32
	// tag and slot make the socket id (socketid.go).
	tag    uint32
	slot   int32
	queued bool
	closed bool

	// more is what only some sockets need (nil for an idle socket).
	more *sessionMore
}

// sessionMore is a Session's state that most idle sockets never use.
type sessionMore struct {
	// byName indexes subs by channel name once there are many (see
	// subscriptions.go); nil for the usual handful.
	byName map[string]int32
	// user is who the socket signed in as (pusher:signin), or nil.
	user *signedIn
	// Client-event rate window: the unix second it counts (truncated: it
	// is only compared with the current one) and how many came in it.
	windowCount int32
	windowStart uint32
	// opened is the unix second the socket opened (truncated, compared
	// by difference), kept only for user_authentication_timeout.
	opened uint32
}

// moreState returns the session's extra state, allocating it if needed.
func (s *Session) moreState() *sessionMore {
	if s.more == nil {
		s.more = &sessionMore{}
	}
	return s.more
}

// user is who the socket signed in as, or nil.
func (s *Session) user() *signedIn {
	if s.more == nil {
		return nil
	}
	return s.more.user
}

// subscription is one channel of a socket; its name is the channel's.
type subscription struct {
	ch     *Channel
	member *localMember // presence only
	// version is the view seq the member list sent to this socket
	// reflected; older presence news is not delivered.
	version int64
	// st is set while the shared state registers this subscription, and
	// kept on a cache channel for its replay; nil otherwise, so the record
	// of an ordinary subscription stays in the 32-byte size class.
	st *subState
}

// subState is what a subscription needs only for a while: while it joins,
// and on a cache channel.
type subState struct {
	// joining is set until subscription_succeeded is sent; cancelled when
	// the socket left the channel (or closed) before that. Both loop only.
	joining, cancelled bool
	// held is what was published while joining, sent after
	// subscription_succeeded: the socket is already in the channel so
	// nothing is lost. Loop only.
	held []heldFrame
	// replay is set on a cache channel while its replay matters. Loop only.
	replay *cacheReplay
	// reg says whether the shared state took the subscription; only its
	// worker reads and writes it, in order. Once the subscription is
	// confirmed it was taken, so only a subscription dropped while joining
	// needs to be asked.
	reg registration
}

// pending reports whether the subscription still waits for the shared state.
func (sub *subscription) pending() bool { return sub.st != nil && sub.st.joining }

// state returns sub.st, making it if needed.
func (sub *subscription) state() *subState {
	if sub.st == nil {
		sub.st = &subState{}
	}
	return sub.st
}

// cacheReplay is what a cache channel's subscription remembers of the
// replay it got on subscribing.
type cacheReplay struct {
	// order is the bus order of the cached event sent on subscribing:
	// cached deliveries up to it (its own broadcast copy, or older events
	// this node delivers late) are not sent; the first later one clears it.
	order Order
	// awaiting is set while the shared cache is read; a cached event
	// broadcast meanwhile is newer news, and the replay is then dropped.
	awaiting bool
}

// registration is whether the shared state took a subscription.
type registration struct{ done bool }

type heldFrame struct {
	frame   []byte
	version int64
}

// maxHeldFrames bounds what a pending join holds; a join takes a round trip
// or two, so this is only reached by a flood.
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
	st := sub.st
	if it.cached && st != nil && st.replay != nil {
		if !st.replay.order.IsZero() && !it.order.After(st.replay.order) {
			return false
		}
		st.replay = nil // the order is passed and the replay is not awaited
	}
	presence := it.ch.kind.IsPresence()
	if presence && it.exceptUser != "" && sub.member != nil && sub.member.id() == it.exceptUser {
		return false
	}
	if st != nil && st.joining {
		if len(st.held) < maxHeldFrames {
			st.held = append(st.held, heldFrame{it.frame, it.version})
		}
		return false
	}
	return !presence || it.version == 0 || it.version > sub.version
}

// Open admits a socket to the app. It returns the session, or a Pusher
// error code and message when the app is over its connection quota.
func (h *Hub) Open(a *App, loop int, out Outbox) (*Session, int, string) {
	if max := a.MaxConnections; max > 0 {
		others := h.occupancy.OtherConnections(a.ID)
		if a.connections.Add(1)+int64(others) > int64(max) {
			a.connections.Add(-1)
			h.Refused(RefusedAppConnections)
			return nil, protocol.ErrOverQuota, "Application is over connection quota: max_connections is " + itoa(max)
		}
	} else {
		a.connections.Add(1)
	}
	a.stats.opened.Add(1)
	s := &Session{app: a, out: out, loop: int32(loop)}
	if a.UserAuthenticationTimeout > 0 {
		s.more = &sessionMore{opened: uint32(time.Now().Unix())}
	}
	a.mu.Lock()
	a.sockets.add(s)
	a.mu.Unlock()
	return s, 0, ""
}

// App is the session's app.
func (s *Session) App() *App { return s.app }

// ID is the socket id the client was given; built on each call, since a
// string kept per socket would cost 24 bytes of 20 thousand idle sockets.
func (s *Session) ID() string {
	var b [24]byte
	return string(s.AppendID(b[:0]))
}

// String is the socket id, so debug lines can take the session itself and
// the id is only built when a line is really written.
func (s *Session) String() string { return s.ID() }

// AppendID appends the socket id to b.
func (s *Session) AppendID(b []byte) []byte { return s.app.sockets.appendID(b, s) }

// Established is the first message the socket must receive.
func (s *Session) Established() []byte {
	return protocol.ConnectionEstablished(s.ID(), s.app.ActivityTimeout)
}

// Close leaves every channel (firing presence leaves) and forgets the socket.
func (s *Session) Close() {
	if s.closed {
		return
	}
	s.closed = true
	for s.nsubs > 0 {
		s.unsubscribeAt(int(s.nsubs) - 1)
	}
	s.signout()
	a := s.app
	a.mu.Lock()
	a.sockets.remove(s)
	a.mu.Unlock()
	a.connections.Add(-1)
	s.pending = nil
}

// compressor is an Outbox that tells whether its socket negotiated
// compression.
type compressor interface{ Compresses() bool }

// send writes one payload to this socket now. A broadcast is framed (and
// compressed) once for everyone; a message for one socket is compressed
// only if that socket reads it compressed.
func (s *Session) send(payload []byte) {
	frame := s.app.frame
	if c, ok := s.out.(compressor); ok && !c.Compresses() {
		frame = s.app.hub.opts.Frame
	}
	s.out.Send(frame(payload))
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
	case "pusher:signin":
		s.signin(msg.Data)
	case "pusher:unsubscribe":
		sub, err := protocol.DecodeSubscribe(msg.Data)
		if err != nil {
			s.send(protocol.Error(protocol.ErrReconnect, err.Error()))
			return
		}
		if i := s.subIndex(sub.Channel); i >= 0 {
			s.unsubscribeAt(i)
		}
		if h.logging() {
			h.logf("socket %s unsubscribed from %q", s.ID(), sub.Channel)
		}
	default:
		if len(msg.Event) > 7 && msg.Event[:7] == "client-" {
			s.whisper(msg)
			return
		}
		if len(msg.Event) > 7 && msg.Event[:7] == "pusher:" || len(msg.Event) > 16 && msg.Event[:16] == "pusher_internal:" {
			s.send(protocol.Error(protocol.ErrReconnect, "Unsupported event "+quote(msg.Event)+": this server accepts pusher:ping, pusher:pong, pusher:subscribe, pusher:unsubscribe, pusher:signin and client-* events"))
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
			"Invalid channel name: "+protocol.ChannelNameRule(name), 400))
		return
	}
	if name[0] == '#' && s.refuseServerChannel(name) {
		return
	}
	if i := s.subIndex(name); i >= 0 {
		// Already subscribed: confirm again, nothing changes.
		if !s.subList()[i].pending() {
			s.resendSucceeded(i)
		}
		return
	}
	if max := a.MaxChannelsPerConnection; max > 0 && int(s.nsubs) >= max {
		a.hub.Refused(RefusedChannelsPerConnection)
		s.refuseOverLimit(name, "This socket is already subscribed to "+itoa(max)+" channels, the app's max_channels_per_connection: unsubscribe from one first", 403)
		return
	}
	// The decoded name points into the decoder's copy of the whole message;
	// the subscription keeps its own.
	name = strings.Clone(name)
	kind := protocol.KindOf(name)
	if kind.NeedsAuth() {
		if sub.Auth == "" {
			s.authFailed(name, "Missing auth: private and presence channels need \"auth\" from your authorizer endpoint")
			return
		}
		if !protocol.VerifyChannelAuth(a.Key, a.Secret, s.ID(), name, sub.ChannelData, sub.Auth) {
			s.authFailed(name, "Invalid signature: expected \"<app key>:<hex HMAC-SHA256 of socket_id:channel_name[:channel_data]>\" signed with this app's secret")
			return
		}
	}
	var mem protocol.Member
	if kind.IsPresence() {
		var err error
		mem, err = protocol.DecodeMember(sub.ChannelData)
		if err != nil {
			s.authFailed(name, err.Error())
			return
		}
		if max := a.MaxPresenceMemberSize; max > 0 && len(mem.Info) > max {
			a.hub.Refused(RefusedPresenceMemberSize)
			s.refuseOverLimit(name, "user_info is "+itoa(len(mem.Info))+" bytes, over the app's max_presence_member_size of "+itoa(max)+" bytes: send less user_info from your authorizer", 413)
			return
		}
	}
	ch := a.join(name, kind, s)
	if a.hub.logging() {
		a.hub.logf("socket %s subscribed to %q (auth ok)", s.ID(), name)
	}
	// A presence subscription keeps the channel's record of its member
	// (shared by the user's sockets) rather than a copy of its own.
	var m *localMember
	first := false
	if kind.IsPresence() {
		if a.hub.localPresence {
			var full bool
			if m, first, full = a.joinLocal(ch, mem); full {
				a.leave(ch, s)
				a.hub.Refused(RefusedPresenceMembers)
				s.refuseOverLimit(name, presenceFullMessage(name, a.MaxPresenceMembersPerChannel), 403)
				return
			}
		} else {
			m, first = ch.addMember(mem)
		}
		if first {
			a.stats.presenceMembers.Add(1)
		}
		a.trackUser(m.id(), s, 1)
	}
	st := &subState{joining: true}
	s.addSub(subscription{ch: ch, member: m, st: st})
	s.joining++
	if !s.register(ch, m, first, st) {
		s.drop(s.indexOfJoin(st), false)
		a.hub.Refused(RefusedJoinQueue)
		s.send(protocol.SubscriptionError(name, "ServerBusy", "The server is too busy to take subscriptions right now: retry", 503))
	}
}

// register records the subscription in the shared state off the loop, then
// confirms it on the loop: once confirmed, every node counts it.
// On a single node the channel has made the user a member already (first:
// their first socket there).
func (s *Session) register(ch *Channel, m *localMember, first bool, st *subState) bool {
	a := s.app
	h := a.hub
	var member protocol.Member
	var js string
	if m != nil && !h.localPresence {
		member = m.member()
		js = memberJSON(member)
	}
	// Two literals so the inline one stays on the stack: every subscribe
	// would otherwise leave a ~140 B closure behind.
	if h.inline {
		h.work.now(a.ID, ch.name, func(sh *share) { s.registerShared(sh, ch, m, first, member, js, st) })
		return true
	}
	return h.work.join(a.ID, ch.name, func(sh *share) { s.registerShared(sh, ch, m, first, member, js, st) })
}

// registerShared is register's work on the shared state.
func (s *Session) registerShared(sh *share, ch *Channel, m *localMember, first bool, member protocol.Member, js string, st *subState) {
	a := s.app
	h := a.hub
	ctx := context.Background()
	// The count goes first: in a cluster its script queues
	// channel_occupied, which a back end expects before member_added.
	count, countErr := h.occupancy.Add(ctx, a.ID, ch.name, 1)
	joinedUser := ""
	if m != nil && h.localPresence {
		if first {
			joinedUser = m.id()
		}
	} else if m != nil {
		list, err := h.presence.Join(ctx, a.ID, ch.name, member.ID, js, a.MaxPresenceMembersPerChannel)
		if err == nil && list.Joined {
			joinedUser = member.ID
		}
		switch {
		case errors.Is(err, ErrPresenceFull):
			// A full channel has members, so taking the count back
			// vacates nothing.
			if _, err := h.occupancy.Add(ctx, a.ID, ch.name, -1); err != nil || countErr != nil {
				sh.dirty = true
			}
			h.onLoop(s, func() { s.refuseFull(ch, st) })
			return
		case err != nil:
			sh.dirty = true
			a.joinedOffline(ch, member)
		default:
			a.loadView(ch, list)
		}
		// A share is replayed on resync; in memory it is scratch (see
		// workers.now), and a record here would only be garbage per join.
		if !h.inline {
			if sh.members == nil {
				sh.members = map[string]*LocalMember{}
			}
			if lm := sh.members[member.ID]; lm != nil {
				lm.Sockets++
				lm.Member = js
			} else {
				sh.members[member.ID] = &LocalMember{UserID: member.ID, Sockets: 1, Member: js}
			}
		}
	}
	sh.subscriptions++
	if countErr != nil {
		sh.dirty = true
	}
	h.emitJoined(a.ID, ch.name, count, joinedUser)
	a.markCountChanged(ch.name)
	st.reg.done = true
	if h.inline {
		s.confirm(ch, st) // already on the loop of s
	} else {
		s.runOnLoop(func() { s.confirm(ch, st) })
	}
}

// onLoop runs fn on the loop of s: at once when the shared state is called
// in place (already on that loop), else queued to it.
func (h *Hub) onLoop(s *Session, fn func()) {
	if h.inline {
		fn()
		return
	}
	s.runOnLoop(fn)
}

// refuseFull answers a presence join the channel had no room for; nothing
// of it was registered.
func (s *Session) refuseFull(ch *Channel, st *subState) {
	if st.cancelled || s.closed {
		return
	}
	if i := s.indexOfJoin(st); i >= 0 {
		s.drop(i, false)
		s.app.hub.Refused(RefusedPresenceMembers)
		s.refuseOverLimit(ch.name, presenceFullMessage(ch.name, s.app.MaxPresenceMembersPerChannel), 403)
	}
}

// confirm sends subscription_succeeded (with the member list on presence
// channels), then what was held meanwhile, then a cache channel's replay.
func (s *Session) confirm(ch *Channel, st *subState) {
	if st.cancelled || s.closed {
		return
	}
	i := s.indexOfJoin(st)
	if i < 0 {
		return
	}
	sub := &s.subList()[i]
	held := st.held
	st.joining, st.held = false, nil
	if !ch.kind.IsCache() {
		sub.st = nil // the shared state took it: nothing left to keep
	}
	s.joining--
	s.sendSucceeded(i)
	var frames [][]byte
	for _, h := range held {
		if !ch.kind.IsPresence() || h.version == 0 || h.version > sub.version {
			frames = append(frames, h.frame)
		}
	}
	if len(frames) > 0 {
		s.out.Send(frames...)
	}
	s.replayCache(ch, frames...)
}

func (s *Session) indexOfJoin(st *subState) int {
	for i, sub := range s.subList() {
		if sub.st == st && st.joining {
			return i
		}
	}
	return -1
}

// unregister undoes register off the loop, in order with it. reg is nil for
// a confirmed subscription: the shared state took it. On a single node the
// channel has taken the user out already (left: their last socket there).
func (a *App) unregister(ch *Channel, m *localMember, left bool, reg *registration) {
	h := a.hub
	var uid string
	if m != nil {
		uid = m.id()
	}
	op := func(sh *share) {
		if reg != nil && !reg.done {
			return // refused as full: nothing to undo
		}
		ctx := context.Background()
		sh.subscriptions--
		// The member goes first: in a cluster the scripts queue
		// member_removed before channel_vacated.
		leftUser := ""
		if m != nil && h.localPresence {
			if left {
				leftUser = uid
			}
		} else if m != nil {
			if lm := sh.members[uid]; lm != nil {
				if lm.Sockets--; lm.Sockets <= 0 {
					delete(sh.members, uid)
				}
			}
			gone, err := h.presence.Leave(ctx, a.ID, ch.name, uid)
			if err != nil {
				sh.dirty = true
				a.leftOffline(ch, uid)
			}
			if gone {
				leftUser = uid
			}
		}
		count, err := h.occupancy.Add(ctx, a.ID, ch.name, -1)
		if err != nil {
			sh.dirty = true
		}
		a.markCountChanged(ch.name)
		h.emitLeft(a.ID, ch.name, count, leftUser)
	}
	if h.inline {
		h.work.now(a.ID, ch.name, op)
		return
	}
	h.work.leave(a.ID, ch.name, op)
}

// replayCache sends a cache channel's last event, or pusher:cache_miss: the
// copy this node delivered itself, or else the shared cache's (read off the
// loop).
func (s *Session) replayCache(ch *Channel, alreadySent ...[]byte) {
	if !ch.kind.IsCache() {
		return
	}
	a := s.app
	sub := s.subOn(ch)
	if sub == nil {
		return
	}
	if last := ch.last.Load(); last != nil && time.Now().Before(last.expires) {
		for _, sent := range alreadySent {
			if len(sent) > 0 && &sent[0] == &last.frame[0] {
				return // held while joining and sent just now
			}
		}
		s.out.Send(last.frame)
		sub.state().replay = &cacheReplay{order: last.order}
		return
	}
	sub.state().replay = &cacheReplay{awaiting: true}
	cache := a.hub.cache
	ok := a.hub.offLoop(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		p, order, err := cache.Get(ctx, a.ID, ch.name)
		cancel()
		if err != nil {
			a.hub.rlog.Printf("cache-get", "cache: reading the last event of %s failed: %v", ch.name, err)
		}
		s.runOnLoop(func() {
			sub := s.subOn(ch)
			if s.closed || sub == nil || sub.st == nil || sub.st.replay == nil || !sub.st.replay.awaiting {
				return
			}
			sub.st.replay = nil
			if p != nil {
				sub.st.replay = &cacheReplay{order: order}
				s.send(p)
			} else {
				s.send(protocol.CacheMiss(ch.name))
				s.emitCacheMiss(ch.name)
			}
		})
	})
	if !ok {
		sub.st.replay = nil
		s.send(protocol.CacheMiss(ch.name))
		s.emitCacheMiss(ch.name)
	}
}

// refuseOverLimit answers a subscription that would break one of the app's
// limits; the socket and its other subscriptions stay.
func (s *Session) refuseOverLimit(channel, why string, status int) {
	s.app.hub.logf("socket %s subscription to %q refused: %s", s, channel, why)
	s.send(protocol.SubscriptionError(channel, "LimitReached", why, status))
}

func (s *Session) authFailed(channel, why string) {
	s.app.hub.logf("socket %s subscription to %q refused: %s", s, channel, why)
	s.send(protocol.SubscriptionError(channel, "AuthError", why, 401))
}

// sendSucceeded confirms subscription i, with the member list on presence
// channels (whose seq then filters older news).
func (s *Session) sendSucceeded(i int) {
	sub := &s.subList()[i]
	ch := sub.ch
	if ch.kind.IsPresence() {
		frame, seq := ch.presenceSucceededWith(sub.member, s.app.frame)
		sub.version = seq
		s.out.Send(frame)
		return
	}
	s.send(protocol.SubscriptionSucceeded(ch.name))
}

// resendSucceeded answers a repeated subscribe from this node's view.
func (s *Session) resendSucceeded(i int) {
	sub := s.subList()[i]
	if sub.ch.kind.IsPresence() {
		frame, _ := sub.ch.presenceSucceededWith(sub.member, s.app.frame)
		s.out.Send(frame)
		return
	}
	s.send(protocol.SubscriptionSucceeded(sub.ch.name))
}

func (s *Session) unsubscribeAt(i int) { s.drop(i, true) }

// drop forgets subscription i here and, when it was registered, in the shared
// state.
func (s *Session) drop(i int, registered bool) {
	sub := s.removeSubAt(i)
	a := s.app
	a.leave(sub.ch, s)
	var reg *registration
	if st := sub.st; st != nil && st.joining {
		st.cancelled = true
		s.joining--
		reg = &st.reg
	}
	left := false
	if sub.member != nil {
		a.trackUser(sub.member.id(), s, -1)
		if a.hub.localPresence {
			left = a.leaveLocal(sub.ch, sub.member.id())
		} else {
			left = sub.ch.removeMember(sub.member.id())
		}
		if left {
			a.stats.presenceMembers.Add(-1)
		}
	}
	if registered {
		a.unregister(sub.ch, sub.member, left, reg)
	}
}

func (s *Session) whisper(msg protocol.ClientMessage) {
	a := s.app
	if a.AcceptClientEventsFrom == "none" {
		s.send(protocol.Error(protocol.ErrClientEvent, "The app does not have client messaging enabled (accept_client_events_from is none)"))
		return
	}
	kind := protocol.KindOf(msg.Channel)
	if kind.IsEncrypted() {
		s.send(protocol.Error(protocol.ErrClientEvent, "Client events are not allowed on encrypted channels: "+quote(msg.Channel)))
		return
	}
	if !kind.AllowsClientEvents() {
		s.send(protocol.Error(protocol.ErrClientEvent, "Client events are only allowed on private and presence channels, not "+quote(msg.Channel)))
		return
	}
	var sub *subscription
	if i := s.subIndex(msg.Channel); i >= 0 {
		sub = &s.subList()[i]
	}
	if (sub == nil && a.AcceptClientEventsFrom != "all") || (sub != nil && sub.pending()) {
		s.send(protocol.Error(protocol.ErrClientEvent, "Client event rejected: subscribe to "+quote(msg.Channel)+" before sending to it"))
		return
	}
	now := uint32(a.hub.now().Unix())
	w := s.moreState()
	if now != w.windowStart {
		w.windowStart, w.windowCount = now, 0
	}
	w.windowCount++
	if int(w.windowCount) > a.ClientEventsPerSecond {
		a.hub.Refused(RefusedClientEventRate)
		s.send(protocol.Error(protocol.ErrClientEvent, "Client event rejected: rate limit of "+itoa(a.ClientEventsPerSecond)+" client events per second exceeded"))
		return
	}
	userID := ""
	if sub != nil && sub.member != nil {
		userID = sub.member.id()
	}
	a.stats.clientEvents.Add(1)
	payload := protocol.ClientEvent(msg.Event, msg.Channel, msg.Data, userID)
	_ = a.hub.bus.Publish(Message{Kind: KindEvent, AppID: a.ID, Channel: msg.Channel, Payload: payload, ExceptSocket: s.ID(), Origin: a.hub.nodeID})
	s.emitClientEvent(msg.Channel, msg.Event, msg.Data, userID)
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return string(protocol.AppendString(nil, s))
}

func itoa(n int) string { return string(appendInt(nil, n)) }
