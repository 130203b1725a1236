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

	mu sync.Mutex
	// members are this node's sockets per user (presence only).
	members map[string]*member
	// view is the member set this node's sockets have been told. Only
	// MemberNews (and, while the shared store is down, local changes)
	// change it, set-wise: an add only for a user not in it, a remove only
	// for one in it, so no socket hears a change twice.
	view map[string]protocol.Member
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
}

func newChannel(name string, kind protocol.Kind, loops int) *Channel {
	ch := &Channel{name: name, kind: kind, subs: make([]map[*Session]struct{}, loops), loopCount: make([]atomic.Int64, loops)}
	for i := range ch.subs {
		ch.subs[i] = map[*Session]struct{}{}
	}
	if kind.IsPresence() {
		ch.members = map[string]*member{}
		ch.view = map[string]protocol.Member{}
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

// presenceData encodes the view, plus self when the view does not have it
// yet, as {"presence":{...}} and returns the seq it reflects.
func (ch *Channel) presenceData(self *protocol.Member) ([]byte, int64) {
	ch.mu.Lock()
	list := make([]protocol.Member, 0, len(ch.view)+1)
	for _, m := range ch.view {
		list = append(list, m)
	}
	if self != nil {
		if _, ok := ch.view[self.ID]; !ok {
			list = append(list, *self)
		}
	}
	seq := ch.seq
	ch.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return encodePresence(list), seq
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
