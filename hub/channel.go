package hub

import (
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/resound/resound/protocol"
)

// Channel is a channel with at least one subscriber on this node. Make one
// only with newChannel: its loops' subscribers follow it in memory.
type Channel struct {
	name string
	// subscriptions is guarded by the app's mu.
	subscriptions int32
	// occupancy is the channel's count when a single node keeps it
	// (localOccupancy); guarded by the app's mu.
	occupancy int32
	kind      protocol.Kind
	// nloops is how many loopSubscribers follow the Channel in its
	// allocation (see newChannel): loop i's are the subscribers living on
	// loop i. Only loop i touches them, so fan-out needs no lock; the count
	// lets publishers skip loops with nobody to deliver to.
	nloops uint16

	// last is the last cached event this node delivered here (cache
	// channels only).
	last atomic.Pointer[lastFrame]

	// presenceState is nil on other channels: most channels are private or
	// public, and they should not pay for a member list.
	*presenceState
}

// presenceState is what a presence channel keeps about its members; its
// fields are guarded by mu.
type presenceState struct {
	mu sync.Mutex
	// members are this node's sockets per user. On a single node (no
	// memberView) they are also the channel's members, in the order of the
	// member list sent to joiners.
	members memberSet
	// seq counts the member list's changes; the news sent to sockets
	// carries it, so a socket skips news its member list already had.
	seq int64
	// presenceMore is nil on a single node's channel until it keeps its
	// member list encoded: most presence channels have a member or two.
	*presenceMore
}

// presenceMore is what only some presence channels keep.
type presenceMore struct {
	// succeeded is the framed subscription_succeeded with the member list
	// as of seq, shared by every joiner until the list changes; nil when it
	// must be encoded again. Lists shorter than cachedListMin are cheaper
	// to encode per joiner than to keep.
	succeeded []byte
	// memberView is nil on a single node, where the local members are the
	// whole member set and keeping a second copy would only cost memory
	// (see local_presence.go).
	*memberView
}

// hasView reports whether the channel keeps a view of the cluster's
// members (a node of a cluster) rather than being their only holder.
func (ps *presenceState) hasView() bool {
	return ps.presenceMore != nil && ps.memberView != nil
}

// dropSucceeded forgets the encoded member list; the caller holds mu.
func (ps *presenceState) dropSucceeded() {
	switch {
	case ps.presenceMore == nil:
	case ps.memberView == nil:
		ps.presenceMore = nil // a single node's: only the list was kept
	default:
		ps.succeeded = nil
	}
}

// cachedSucceeded is the encoded member list kept, or nil; the caller
// holds mu.
func (ps *presenceState) cachedSucceeded() []byte {
	if ps.presenceMore == nil {
		return nil
	}
	return ps.succeeded
}

// memberView is what a node of a cluster keeps of a presence channel's
// cluster-wide members; guarded by the presenceState's mu.
type memberView struct {
	// viewLoaded: the view holds a member list read from the store (or the
	// local members, when it was down); news before that waits in early.
	viewLoaded bool
	// view is the member set this node's sockets have been told, in the
	// order of the member list sent to joiners (the protocol gives order no
	// meaning). Only MemberNews (and, while the shared store is down, local
	// changes) change it, set-wise: an add only for a user not in it, a
	// remove only for one in it, so no socket hears a change twice.
	view  smallMap[string, viewMember]
	early *[]MemberNews
	// viewVersion is the store's version the view reflects: older news is
	// stale.
	viewVersion int64
}

// cachedListMin is the member count from which a channel keeps its encoded
// member list between joiners.
const cachedListMin = 8

// localMember is a user with sockets on this node, or a subscription's own
// member when it differs from the user's record here. It keeps the user_id
// as text and whether it was a number: the id's JSON is made again when
// needed (protocol.DecodeMember keeps a string id's own encoding). The id
// and the raw user_info share one string, and the id's length shares a
// word with the flag: every presence subscription has a record, and this
// keeps it in the smallest size class that holds it, with one string.
type localMember struct {
	// text is the user_id, then the raw user_info (none when it ends
	// there).
	text string
	// idLen is the user_id's length; numericID is set in it when the
	// user_id was sent as a number.
	idLen   uint32
	sockets int32
}

const numericID = 1 << 31

func newLocalMember(m protocol.Member) *localMember {
	lm := &localMember{text: m.ID + string(m.Info), idLen: uint32(len(m.ID)), sockets: 1}
	if len(m.IDJSON) > 0 && m.IDJSON[0] != '"' {
		lm.idLen |= numericID
	}
	return lm
}

// id is the user_id.
func (m *localMember) id() string { return m.text[:m.idLen&^numericID] }

// info is the raw user_info, nil when none.
func (m *localMember) info() []byte {
	raw := m.text[m.idLen&^numericID:]
	if raw == "" {
		return nil
	}
	return []byte(raw)
}

// hasInfo reports whether the member has user_info.
func (m *localMember) hasInfo() bool { return len(m.text) > int(m.idLen&^numericID) }

// numeric: the user_id was sent as a number, not a string.
func (m *localMember) numeric() bool { return m.idLen&numericID != 0 }

// member is the user as protocol.DecodeMember gave it.
func (m *localMember) member() protocol.Member {
	return protocol.Member{ID: m.id(), IDJSON: m.appendIDJSON(nil), Info: m.info()}
}

// sameAs reports whether m is the member the channel_data gave.
func (m *localMember) sameAs(o protocol.Member) bool {
	numeric := len(o.IDJSON) > 0 && o.IDJSON[0] != '"'
	return m.id() == o.ID && m.numeric() == numeric && m.text[m.idLen&^numericID:] == string(o.Info)
}

// appendIDJSON appends the user_id as the client sent it.
func (m *localMember) appendIDJSON(b []byte) []byte {
	if m.numeric() {
		return append(b, m.id()...)
	}
	return protocol.AppendString(b, m.id())
}

// viewMember is a member of the view (its user id is the key): its entries
// in the "ids" array and the "hash" object of the member list, already
// escaped for the JSON string that carries the list, so encoding the list
// is only copying.
type viewMember struct {
	// parts is the "ids" entry, then from idEnd the "hash" entry.
	parts string
	idEnd int32
	// numeric: the user_id was sent as a number, not a string.
	numeric bool
}

func newViewMember(m protocol.Member) viewMember {
	b := appendInString(nil, m.IDJSON)
	idEnd := len(b)
	hash := protocol.AppendString(nil, m.ID)
	hash = append(hash, ':')
	if m.Info != nil {
		hash = append(hash, m.Info...)
	} else {
		hash = append(hash, "null"...)
	}
	b = appendInString(b, hash)
	return viewMember{parts: string(b), idEnd: int32(idEnd), numeric: len(m.IDJSON) > 0 && m.IDJSON[0] != '"'}
}

func (v viewMember) idPart() string   { return v.parts[:v.idEnd] }
func (v viewMember) hashPart() string { return v.parts[v.idEnd:] }

// idJSON is the user_id as the client sent it: a number as is, a string
// quoted (protocol.DecodeMember keeps the ID's own encoding, so this is
// the same text).
func (v viewMember) idJSON(id string) []byte {
	if v.numeric {
		return []byte(id)
	}
	return protocol.AppendString(nil, id)
}

// appendInString appends JSON text as it appears inside a JSON string
// literal.
func appendInString(b, js []byte) []byte {
	start := len(b)
	b = protocol.AppendString(b, string(js))
	copy(b[start:], b[start+1:len(b)-1])
	return b[:len(b)-2]
}

// newChannel allocates the Channel and its loops' subscribers as one
// object, of a type made once per loop count: struct{Channel;
// [loops]loopSubscribers}. Every socket with a channel of its own pays for
// both, and apart they cost a pointer more and two size-class roundings
// (96 B for 2 loops, against 80 B together); the loops are also found
// without a second pointer on every fan-out.
func newChannel(name string, kind protocol.Kind, loops int) *Channel {
	ch := (*Channel)(reflect.New(channelType(loops, kind.IsPresence())).UnsafePointer())
	ch.name, ch.kind, ch.nloops = name, kind, uint16(loops)
	if kind.IsPresence() {
		// The member state follows the loops in the same block: the pair
		// fits a smaller size class than the two apart.
		ch.presenceState = (*presenceState)(unsafe.Add(unsafe.Pointer(ch), presenceOffset(loops)))
	}
	return ch
}

// newClusterChannel is newChannel on a node of a cluster, where a presence
// channel also keeps its view of the cluster-wide members.
func newClusterChannel(name string, kind protocol.Kind, loops int) *Channel {
	ch := newChannel(name, kind, loops)
	if ch.presenceState != nil {
		ch.presenceMore = &presenceMore{memberView: &memberView{}}
	}
	return ch
}

// channelTypes caches channelType's answers by loop count and kind.
var channelTypes sync.Map

// channelType is a Channel followed by loops loopSubscribers, and by the
// presenceState on a presence channel: a real type, so the collector sees
// every pointer in the block.
func channelType(loops int, presence bool) reflect.Type {
	key := loops * 2
	if presence {
		key++
	}
	if t, ok := channelTypes.Load(key); ok {
		return t.(reflect.Type)
	}
	fields := []reflect.StructField{
		{Name: "Channel", Type: reflect.TypeFor[Channel]()},
		{Name: "Loops", Type: reflect.ArrayOf(loops, reflect.TypeFor[loopSubscribers]())},
	}
	if presence {
		fields = append(fields, reflect.StructField{Name: "Presence", Type: reflect.TypeFor[presenceState]()})
	}
	t := reflect.StructOf(fields)
	if t.Field(1).Offset != unsafe.Sizeof(Channel{}) {
		panic("hub: the loops do not follow the Channel")
	}
	if presence && t.Field(2).Offset != presenceOffset(loops) {
		panic("hub: the presence state is not where presenceOffset says")
	}
	channelTypes.Store(key, t)
	return t
}

// presenceOffset is where a presence channel's state starts in its block.
func presenceOffset(loops int) uintptr {
	end := unsafe.Sizeof(Channel{}) + uintptr(loops)*unsafe.Sizeof(loopSubscribers{})
	align := unsafe.Alignof(presenceState{})
	return (end + align - 1) &^ (align - 1)
}

// maxLoops is the most loops a Channel can count (nloops).
const maxLoops = 1<<16 - 1

// loop returns the subscribers living on loop i.
func (ch *Channel) loop(i int) *loopSubscribers {
	first := (*loopSubscribers)(unsafe.Add(unsafe.Pointer(ch), unsafe.Sizeof(Channel{})))
	return &unsafe.Slice(first, ch.nloops)[i]
}

// addMember counts one more local socket for the user; first reports
// whether the user had none here. It returns the member for the
// subscription to keep: the record's own when it is the same member, so a
// user's sockets share one.
func (ch *Channel) addMember(m protocol.Member) (kept *localMember, first bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if cur, ok := ch.members.get(m.ID); ok {
		cur.sockets++
		if cur.sameAs(m) {
			return cur, false
		}
		return newLocalMember(m), false
	}
	rec := newLocalMember(m)
	ch.members.put(rec)
	return rec, true
}

// removeMember counts one local socket less; last reports whether it was
// the user's last one here.
func (ch *Channel) removeMember(id string) (last bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	cur, ok := ch.members.get(id)
	if !ok {
		return false
	}
	cur.sockets--
	if cur.sockets > 0 {
		return false
	}
	ch.members.remove(id)
	return true
}

// presenceFullMessage is the refusal of a joiner over
// max_presence_members_per_channel.
func presenceFullMessage(channel string, max int) string {
	return "Presence channel " + quote(channel) + " is full: it has the app's max_presence_members_per_channel of " + itoa(max) + " users"
}

// viewPutLocked adds a member to the view; the caller holds ch.mu. A
// user with sockets here is keyed by the local record's copy of the id, so
// the view keeps no second one.
func (ch *Channel) viewPutLocked(m protocol.Member) {
	id := m.ID
	if local, ok := ch.members.get(id); ok {
		id = local.id()
	}
	ch.view.put(id, newViewMember(m))
	ch.dropSucceeded()
}

// viewDropLocked removes a member from the view and returns its user_id
// JSON, or nil when the view did not have it; the caller holds ch.mu.
func (ch *Channel) viewDropLocked(id string) []byte {
	cur, ok := ch.view.remove(id)
	if !ok {
		return nil
	}
	ch.dropSucceeded()
	return cur.idJSON(id)
}

// viewResetLocked empties the view; the caller holds ch.mu.
func (ch *Channel) viewResetLocked() {
	ch.view.clear()
	ch.dropSucceeded()
}

// presenceSucceeded returns the framed subscription_succeeded carrying the
// view, and the seq it reflects. On a channel of cachedListMin members or
// more it is encoded once per change of the view, however many sockets
// join in between.
func (ch *Channel) presenceSucceeded(frame func([]byte) []byte) ([]byte, int64) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if f := ch.cachedSucceeded(); f != nil {
		return f, ch.seq
	}
	f := frame(ch.encodeSucceeded(nil))
	if ch.listLenLocked() >= cachedListMin {
		if ch.presenceMore == nil {
			ch.presenceMore = &presenceMore{}
		}
		ch.succeeded = f
	}
	return f, ch.seq
}

// presenceSucceededWith is presenceSucceeded for a joiner: when the view
// does not have the joiner's own user yet (its news is on the way), the
// list is encoded with it, once for this joiner.
func (ch *Channel) presenceSucceededWith(self *localMember, frame func([]byte) []byte) ([]byte, int64) {
	if self == nil {
		return ch.presenceSucceeded(frame)
	}
	ch.mu.Lock()
	if !ch.hasView() || ch.view.has(self.id()) {
		ch.mu.Unlock()
		return ch.presenceSucceeded(frame)
	}
	defer ch.mu.Unlock()
	extra := newViewMember(self.member())
	return frame(ch.encodeSucceeded(&extra)), ch.seq
}

// listLenLocked is how many members the list sent to joiners has; the
// caller holds ch.mu.
func (ch *Channel) listLenLocked() int {
	if !ch.hasView() {
		return ch.members.len()
	}
	return ch.view.len()
}

// encodeSucceeded builds pusher_internal:subscription_succeeded with the
// view (and extra, when not nil) from the members' escaped parts, in one
// allocation. The caller holds ch.mu.
func (ch *Channel) encodeSucceeded(extra *viewMember) []byte {
	if !ch.hasView() {
		return ch.encodeLocalSucceeded()
	}
	list := ch.view.entries
	if extra != nil {
		list = append(list[:len(list):len(list)], smallEntry[string, viewMember]{val: *extra})
	}
	count := appendInt(nil, len(list))
	size := len(ch.name) + 128 + len(count)
	for _, m := range list {
		size += len(m.val.parts) + 2
	}
	b := make([]byte, 0, size)
	b = protocol.AppendPresenceSucceededStart(b, ch.name)
	b = append(b, `{\"presence\":{\"count\":`...)
	b = append(b, count...)
	b = append(b, `,\"ids\":[`...)
	for i, m := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.val.idPart()...)
	}
	b = append(b, `],\"hash\":{`...)
	for i, m := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.val.hashPart()...)
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
