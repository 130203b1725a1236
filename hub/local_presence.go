package hub

import (
	"context"
	"sort"

	"github.com/resound/resound/protocol"
)

// Presence on a single node. A presence channel's local members are then
// its whole member set, so the channel keeps them once: no record in a
// shared store, no member JSON, no view (see presenceState.memberView).
// A user joins when their first socket is added to the channel's members
// and leaves with their last, under the channel's lock; the news goes out
// there, so the member list a joiner is sent and the news others hear
// change together, in seq order. The decision is localOccupancy's: a hub
// given no shared state of its own keeps it in its channels.

// localPresence is Presence for one node: presence channels are read from
// the channels' members; signed-in users (usersChannel), which have no
// channel, stay in a MemoryPresence.
type localPresence struct {
	*MemoryPresence
	hub *Hub
}

// channelMembers finds the presence channel whose members are the
// cluster's, or nil when no socket is on it.
func (p localPresence) channelMembers(app, channel string) *Channel {
	if channel == usersChannel {
		return nil
	}
	_, ch := p.hub.channelOf(app, channel)
	return ch
}

func (p localPresence) Members(ctx context.Context, app, channel string) (PresenceList, error) {
	if channel == usersChannel {
		return p.MemoryPresence.Members(ctx, app, channel)
	}
	out := PresenceList{Members: []string{}}
	if ch := p.channelMembers(app, channel); ch != nil {
		ch.mu.Lock()
		for m := range ch.members.all() {
			out.Members = append(out.Members, memberJSON(m.member()))
		}
		out.Version = ch.seq
		ch.mu.Unlock()
	}
	sort.Strings(out.Members)
	return out, nil
}

func (p localPresence) Count(ctx context.Context, app, channel string) (int, error) {
	if channel == usersChannel {
		return p.MemoryPresence.Count(ctx, app, channel)
	}
	ch := p.channelMembers(app, channel)
	if ch == nil {
		return 0, nil
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.members.len(), nil
}

// Sync has nothing to do for a channel, which is the truth already; Join
// and Leave (promoted) only ever see signed-in users: the hub joins and
// leaves a single node's presence channels in the channel itself
// (joinLocal, leaveLocal).
func (p localPresence) Sync(ctx context.Context, app, channel string, local []LocalMember) error {
	if channel != usersChannel {
		return nil // the channel is the truth already
	}
	return p.MemoryPresence.Sync(ctx, app, channel, local)
}

// The news of a change is sent only when another user is a member: every
// subscriber of a presence channel is a member's socket, or one still
// joining, whose member list is made after its own join and so already
// reflects the change. A channel of one user (every socket with a presence
// channel of its own) then frames nothing for nobody.

// joinLocal adds a socket of the user to a single node's presence channel.
// The user's first socket makes them a member, unless the channel has the
// app's max_presence_members_per_channel users already (full); the other
// sockets there hear member_added. kept is the member for the subscription
// to keep, as addMember's.
func (a *App) joinLocal(ch *Channel, m protocol.Member) (kept *localMember, first, full bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if cur, ok := ch.members.get(m.ID); ok {
		cur.sockets++
		if cur.sameAs(m) {
			return cur, false, false
		}
		return newLocalMember(m), false, false
	}
	if max := a.MaxPresenceMembersPerChannel; max > 0 && ch.members.len() >= max {
		return nil, false, true
	}
	rec := newLocalMember(m)
	ch.members.put(rec)
	ch.dropSucceeded()
	ch.seq++
	if ch.members.len() > 1 {
		a.fanOut(delivery{ch: ch, exceptUser: m.ID, version: ch.seq, frame: a.frame(protocol.MemberAdded(ch.name, m.IDJSON, m.Info))})
	}
	return rec, true, false
}

// leaveLocal removes a socket of the user from a single node's presence
// channel; the last one makes them leave (last), and the sockets left
// there hear member_removed.
func (a *App) leaveLocal(ch *Channel, id string) (last bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	cur, ok := ch.members.get(id)
	if !ok {
		return false
	}
	if cur.sockets--; cur.sockets > 0 {
		return false
	}
	ch.members.remove(id)
	ch.dropSucceeded()
	ch.seq++
	if ch.members.len() > 0 {
		a.fanOut(delivery{ch: ch, exceptUser: id, version: ch.seq, frame: a.frame(protocol.MemberRemoved(ch.name, cur.appendIDJSON(nil)))})
	}
	return true
}

// encodeLocalSucceeded is encodeSucceeded for a single node's channel,
// whose list is its members; their escaped parts are made as they are
// copied, since keeping them would cost every member's memory. The caller
// holds ch.mu.
func (ch *Channel) encodeLocalSucceeded() []byte {
	n := ch.members.len()
	size := len(ch.name) + 128
	for m := range ch.members.all() {
		// The id twice, quoted and escaped, and user_info (or null)
		// escaped: an escape per quote of the info at most doubles it.
		size += 2*len(m.text) + 17
	}
	b := make([]byte, 0, size)
	b = protocol.AppendPresenceSucceededStart(b, ch.name)
	b = append(b, `{\"presence\":{\"count\":`...)
	b = appendInt(b, n)
	b = append(b, `,\"ids\":[`...)
	var scratch [64]byte
	part := scratch[:0]
	i := 0
	for m := range ch.members.all() {
		if i > 0 {
			b = append(b, ',')
		}
		i++
		part = m.appendIDJSON(part[:0])
		b = appendInString(b, part)
	}
	b = append(b, `],\"hash\":{`...)
	i = 0
	for m := range ch.members.all() {
		if i > 0 {
			b = append(b, ',')
		}
		i++
		id := m.id()
		part = protocol.AppendString(part[:0], id)
		part = append(part, ':')
		if m.hasInfo() {
			part = append(part, m.text[len(id):]...)
		} else {
			part = append(part, "null"...)
		}
		b = appendInString(b, part)
	}
	return append(b, `}}}"}`...)
}
