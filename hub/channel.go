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
	// version counts user joins and leaves on this node's view; presence
	// news carries it so a socket skips news its member list already had.
	version int64
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
func (ch *Channel) addMember(m protocol.Member) (first bool, version int64) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	cur := ch.members[m.ID]
	if cur == nil {
		ch.members[m.ID] = &member{Member: m, sockets: 1}
		ch.version++
		return true, ch.version
	}
	cur.sockets++
	return false, ch.version
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
	ch.version++
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
