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
	members map[string]*member // presence only, by user id
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
// user was not on the channel before.
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

// removeMember counts one socket less; last reports whether the user left.
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

// presenceData encodes {"presence":{"count","ids","hash"}}.
func (ch *Channel) presenceData() []byte {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ids := make([]string, 0, len(ch.members))
	for id := range ch.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	b := []byte(`{"presence":{"count":`)
	b = appendInt(b, len(ids))
	b = append(b, `,"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ch.members[id].IDJSON...)
	}
	b = append(b, `],"hash":{`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, id)
		b = append(b, ':')
		if info := ch.members[id].Info; info != nil {
			b = append(b, info...)
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
