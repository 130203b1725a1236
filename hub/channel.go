package hub

import (
	"sync"
	"sync/atomic"

	"github.com/resound/resound/protocol"
)

// Channel is a channel with at least one subscriber on this node.
type Channel struct {
	name string
	kind protocol.Kind

	// subs[i] holds the subscribers living on loop i, nil while there are
	// none (most channels have one or two subscribers, and a node may run
	// dozens of loops). Only loop i touches its set, so fan-out needs no
	// lock; loopCount lets publishers skip loops with nobody to deliver to.
	subs      []*sessionSet
	loopCount []atomic.Int64

	// subscriptions is guarded by the app's mu.
	subscriptions int

	// last is the last cached event this node delivered here (cache
	// channels only).
	last atomic.Pointer[lastFrame]

	// mu guards the presence state.
	mu sync.Mutex
	// presenceState is nil on other channels: most channels are private or
	// public, and they should not pay for a member list.
	*presenceState
}

// presenceState is what a presence channel keeps about its members; its
// fields are guarded by the channel's mu.
type presenceState struct {
	// members are this node's sockets per user (presence only).
	members map[string]*member
	// view is the member set this node's sockets have been told. Only
	// MemberNews (and, while the shared store is down, local changes)
	// change it, set-wise: an add only for a user not in it, a remove only
	// for one in it, so no socket hears a change twice.
	view map[string]*member
	// order holds the view's members in the order of the member list sent
	// to joiners (the protocol gives order no meaning).
	order []*member
	// succeeded is the framed subscription_succeeded with the view as of
	// seq, shared by every joiner until the view changes; nil when it must
	// be encoded again.
	succeeded []byte
	// viewLoaded: the view holds a member list read from the store (or the
	// local members, when it was down); news before that waits in early.
	viewLoaded bool
	early      []MemberNews
	// viewVersion is the store's version the view reflects: older news is
	// stale.
	viewVersion int64
	// seq counts the view's changes; the news sent to sockets carries it,
	// so a socket skips news its member list already had.
	seq int64
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
	ch := &Channel{name: name, kind: kind, subs: make([]*sessionSet, loops), loopCount: make([]atomic.Int64, loops)}
	if kind.IsPresence() {
		ch.presenceState = &presenceState{members: map[string]*member{}, view: map[string]*member{}}
	}
	return ch
}

// addMember counts one more local socket for the user; first reports
// whether the user had none here.
func (ch *Channel) addMember(m protocol.Member) (first bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	cur := ch.members[m.ID]
	if cur == nil {
		ch.members[m.ID] = &member{Member: m, sockets: 1}
		return true
	}
	cur.sockets++
	return false
}

// removeMember counts one local socket less; last reports whether it was
// the user's last one here.
func (ch *Channel) removeMember(id string) (last bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	cur := ch.members[id]
	if cur == nil {
		return false
	}
	cur.sockets--
	if cur.sockets > 0 {
		return false
	}
	delete(ch.members, id)
	return true
}

// presenceFullMessage is the refusal of a joiner over
// max_presence_members_per_channel.
func presenceFullMessage(channel string, max int) string {
	return "Presence channel " + quote(channel) + " is full: it has the app's max_presence_members_per_channel of " + itoa(max) + " users"
}

// viewPutLocked adds a member to the view; the caller holds ch.mu.
func (ch *Channel) viewPutLocked(m protocol.Member) {
	nm := newMember(m)
	nm.pos = len(ch.order)
	ch.view[m.ID] = nm
	ch.order = append(ch.order, nm)
	ch.succeeded = nil
}

// viewDropLocked removes a member from the view; the caller holds ch.mu.
func (ch *Channel) viewDropLocked(id string) *member {
	cur := ch.view[id]
	if cur == nil {
		return nil
	}
	delete(ch.view, id)
	end := len(ch.order) - 1
	ch.order[cur.pos] = ch.order[end]
	ch.order[cur.pos].pos = cur.pos
	ch.order[end] = nil
	ch.order = ch.order[:end]
	ch.succeeded = nil
	return cur
}

// viewResetLocked empties the view; the caller holds ch.mu.
func (ch *Channel) viewResetLocked() {
	clear(ch.view)
	clear(ch.order)
	ch.order = ch.order[:0]
	ch.succeeded = nil
}

// presenceSucceeded returns the framed subscription_succeeded carrying the
// view, and the seq it reflects. It is encoded once per change of the view,
// however many sockets join in between.
func (ch *Channel) presenceSucceeded(frame func([]byte) []byte) ([]byte, int64) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.succeeded == nil {
		ch.succeeded = frame(ch.encodeSucceeded(nil))
	}
	return ch.succeeded, ch.seq
}

// presenceSucceededWith is presenceSucceeded for a joiner: when the view
// does not have the joiner's own user yet (its news is on the way), the
// list is encoded with it, once for this joiner.
func (ch *Channel) presenceSucceededWith(self *protocol.Member, frame func([]byte) []byte) ([]byte, int64) {
	if self == nil {
		return ch.presenceSucceeded(frame)
	}
	ch.mu.Lock()
	_, known := ch.view[self.ID]
	if known {
		ch.mu.Unlock()
		return ch.presenceSucceeded(frame)
	}
	defer ch.mu.Unlock()
	return frame(ch.encodeSucceeded(newMember(*self))), ch.seq
}

// encodeSucceeded builds pusher_internal:subscription_succeeded with the
// view (and extra, when not nil) from the members' escaped parts, in one
// allocation. The caller holds ch.mu.
func (ch *Channel) encodeSucceeded(extra *member) []byte {
	list := ch.order
	if extra != nil {
		list = append(list[:len(list):len(list)], extra)
	}
	head := protocol.PresenceSucceeded(ch.name, nil) // ...,"data":""}
	head = head[:len(head)-2]
	count := appendInt(nil, len(list))
	size := len(head) + 64 + len(count)
	for _, m := range list {
		size += len(m.idPart) + len(m.hashPart) + 2
	}
	b := make([]byte, 0, size)
	b = append(b, head...)
	b = append(b, `{\"presence\":{\"count\":`...)
	b = append(b, count...)
	b = append(b, `,\"ids\":[`...)
	for i, m := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.idPart...)
	}
	b = append(b, `],\"hash\":{`...)
	for i, m := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.hashPart...)
	}
	return append(b, `}}}"}`...)
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
