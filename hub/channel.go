package hub

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/resound/resound/protocol"
)

// Channel is a channel with at least one subscriber on this node.
type Channel struct {
	name string
	kind protocol.Kind

	// subs[i] holds the subscribers living on loop i. Only loop i touches
	// its set, so fan-out needs no lock; loopCount lets publishers skip loops
	// with nobody to deliver to.
	subs      []map[*Session]struct{}
	loopCount []atomic.Int64

	// subscriptions is guarded by the app's mu.
	subscriptions int

	mu      sync.Mutex
	members map[string]*member // presence only, by user id (this node's)
	// order holds the same members in the order of the member list sent to
	// joiners (the protocol gives order no meaning).
	order []*member
	// version counts user joins and leaves on this node's view; presence
	// news carries it so a socket skips news its member list already had.
	version int64
	// succeeded is the framed subscription_succeeded with the member list
	// as of version, shared by every joiner until membership changes; nil
	// when it must be encoded again.
	succeeded []byte
}

type member struct {
	protocol.Member
	sockets int
	// pos is the member's index in Channel.order.
	pos int
	// idPart and hashPart are the member's entries in the "ids" array and
	// "hash" object of the member list, already escaped for the JSON string
	// that carries the list: encoding the list is then only copying.
	idPart, hashPart []byte
}

func newMember(m protocol.Member) *member {
	hash := protocol.AppendString(nil, m.ID)
	hash = append(hash, ':')
	if m.Info != nil {
		hash = append(hash, m.Info...)
	} else {
		hash = append(hash, "null"...)
	}
	return &member{Member: m, sockets: 1, idPart: escapedInString(m.IDJSON), hashPart: escapedInString(hash)}
}

// escapedInString is JSON text as it appears inside a JSON string literal.
func escapedInString(js []byte) []byte {
	q := protocol.AppendString(nil, string(js))
	return q[1 : len(q)-1 : len(q)-1]
}

func newChannel(name string, kind protocol.Kind, loops int) *Channel {
	ch := &Channel{name: name, kind: kind, subs: make([]map[*Session]struct{}, loops), loopCount: make([]atomic.Int64, loops)}
	for i := range ch.subs {
		ch.subs[i] = map[*Session]struct{}{}
	}
	if kind.IsPresence() {
		ch.members = map[string]*member{}
	}
	return ch
}

func (ch *Channel) info() ChannelInfo {
	ci := ChannelInfo{Name: ch.name, Kind: ch.kind, Occupied: true}
	var n int64
	for i := range ch.loopCount {
		n += ch.loopCount[i].Load()
	}
	ci.SubscriptionCount = int(n)
	if ch.kind.IsPresence() {
		ch.mu.Lock()
		ci.UserCount = len(ch.members)
		ch.mu.Unlock()
	}
	return ci
}

// addMember counts one more socket for the user; first reports whether the
// user was not on the channel before, version the presence version after.
// A new user is refused (ok false) when the channel already has max users;
// max <= 0 means no limit. Another socket of a present user always joins.
func (ch *Channel) addMember(m protocol.Member, max int) (first bool, version int64, ok bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	cur := ch.members[m.ID]
	if cur == nil {
		if max > 0 && len(ch.members) >= max {
			return false, ch.version, false
		}
		nm := newMember(m)
		nm.pos = len(ch.order)
		ch.members[m.ID] = nm
		ch.order = append(ch.order, nm)
		ch.version++
		ch.succeeded = nil
		return true, ch.version, true
	}
	cur.sockets++
	return false, ch.version, true
}

// admitMember adds m to presence channel ch unless a new user would take it
// past the app's max_presence_members_per_channel (ok false). It counts
// this node's members, which on a single node are all of them; a cluster
// must count every node's, atomically where it registers the member.
func (a *App) admitMember(ch *Channel, m protocol.Member) (first bool, version int64, ok bool) {
	return ch.addMember(m, a.MaxPresenceMembersPerChannel)
}

// presenceFullMessage is the refusal of a joiner over
// max_presence_members_per_channel.
func presenceFullMessage(channel string, max int) string {
	return "Presence channel " + quote(channel) + " is full: it has the app's max_presence_members_per_channel of " + itoa(max) + " users"
}

// removeMember counts one socket less; last reports whether the user left.
func (ch *Channel) removeMember(id string) (last bool, version int64) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	cur := ch.members[id]
	if cur == nil {
		return false, ch.version
	}
	cur.sockets--
	if cur.sockets > 0 {
		return false, ch.version
	}
	delete(ch.members, id)
	end := len(ch.order) - 1
	ch.order[cur.pos] = ch.order[end]
	ch.order[cur.pos].pos = cur.pos
	ch.order[end] = nil
	ch.order = ch.order[:end]
	ch.version++
	ch.succeeded = nil
	return true, ch.version
}

func (ch *Channel) userIDs() []string {
	ch.mu.Lock()
	ids := make([]string, 0, len(ch.members))
	for id := range ch.members {
		ids = append(ids, id)
	}
	ch.mu.Unlock()
	sort.Strings(ids)
	return ids
}

// presenceSucceeded returns the framed subscription_succeeded carrying this
// node's members, and the version it reflects. It is encoded once per
// membership change, however many sockets join in between.
func (ch *Channel) presenceSucceeded(frame func([]byte) []byte) ([]byte, int64) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.succeeded == nil {
		ch.succeeded = frame(ch.encodeSucceeded())
	}
	return ch.succeeded, ch.version
}

// encodeSucceeded builds pusher_internal:subscription_succeeded with the
// member list from the members' escaped parts, in one allocation. The caller
// holds ch.mu.
func (ch *Channel) encodeSucceeded() []byte {
	head := protocol.PresenceSucceeded(ch.name, nil) // ...,"data":""}
	head = head[:len(head)-2]
	count := appendInt(nil, len(ch.order))
	size := len(head) + 64 + len(count)
	for _, m := range ch.order {
		size += len(m.idPart) + len(m.hashPart) + 2
	}
	b := make([]byte, 0, size)
	b = append(b, head...)
	b = append(b, `{\"presence\":{\"count\":`...)
	b = append(b, count...)
	b = append(b, `,\"ids\":[`...)
	for i, m := range ch.order {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.idPart...)
	}
	b = append(b, `],\"hash\":{`...)
	for i, m := range ch.order {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.hashPart...)
	}
	return append(b, `}}}"}`...)
}

// presenceData encodes this node's members as {"presence":{...}} and
// returns the version it reflects.
func (ch *Channel) presenceData() ([]byte, int64) {
	ch.mu.Lock()
	list := make([]protocol.Member, 0, len(ch.members))
	for _, m := range ch.members {
		list = append(list, m.Member)
	}
	version := ch.version
	ch.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return encodePresence(list), version
}

// encodePresence writes {"presence":{"count","ids","hash"}} for members
// sorted by id.
func encodePresence(list []protocol.Member) []byte {
	b := []byte(`{"presence":{"count":`)
	b = appendInt(b, len(list))
	b = append(b, `,"ids":[`...)
	for i, m := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.IDJSON...)
	}
	b = append(b, `],"hash":{`...)
	for i, m := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, m.ID)
		b = append(b, ':')
		if m.Info != nil {
			b = append(b, m.Info...)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, "}}}"...)
}

func appendInt(b []byte, n int) []byte {
	if n == 0 {
		return append(b, '0')
	}
	var tmp [20]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[i:]...)
}
