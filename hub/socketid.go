package hub

import (
	mrand "math/rand/v2"
	"strconv"
)

// A socket id ("A.B", two decimal numbers, as Pusher clients expect) names
// where its session lives: it encodes the session's slot in the app's socket
// table and a random tag the slot must also hold, so the HTTP API's
// socket_id (exclude the publisher) is found without a map entry and a
// string per socket, and a stale or made-up id finds nothing. The pair is
// scrambled with a per-app key so ids do not show how many sockets the app
// holds.

// socketTable is an app's sessions by slot (guarded by App.mu). Freed slots
// are reused first; like a map, it does not shrink.
type socketTable struct {
	slots []*Session
	free  []int32
	key   [4]uint32 // scrambles (tag, slot) into the id
}

func newSocketTable() socketTable {
	return socketTable{key: [4]uint32{mrand.Uint32(), mrand.Uint32(), mrand.Uint32(), mrand.Uint32()}}
}

// add gives s a slot and a fresh tag, which together make its id.
func (t *socketTable) add(s *Session) {
	s.tag = mrand.Uint32()
	if n := len(t.free); n > 0 {
		s.slot = t.free[n-1]
		t.free = t.free[:n-1]
		t.slots[s.slot] = s
		return
	}
	s.slot = int32(len(t.slots))
	t.slots = append(t.slots, s)
}

func (t *socketTable) remove(s *Session) {
	if s.slot < 0 || int(s.slot) >= len(t.slots) || t.slots[s.slot] != s {
		return
	}
	t.slots[s.slot] = nil
	t.free = append(t.free, s.slot)
}

func (t *socketTable) len() int { return len(t.slots) - len(t.free) }

// find returns the session whose id this is, or nil.
func (t *socketTable) find(id string) *Session {
	hi, lo, ok := splitSocketID(id)
	if !ok {
		return nil
	}
	tag, slot := t.unscramble(hi, lo)
	if int64(slot) >= int64(len(t.slots)) {
		return nil
	}
	if s := t.slots[slot]; s != nil && s.tag == tag {
		return s
	}
	return nil
}

// appendID appends the id of s, a session in this table.
func (t *socketTable) appendID(b []byte, s *Session) []byte {
	hi, lo := t.scramble(s.tag, uint32(s.slot))
	b = strconv.AppendUint(b, uint64(hi), 10)
	b = append(b, '.')
	return strconv.AppendUint(b, uint64(lo), 10)
}

// scramble is a four-round Feistel network over the two halves: a
// permutation, so every (tag, slot) has its own id and unscramble undoes it.
func (t *socketTable) scramble(l, r uint32) (uint32, uint32) {
	for _, k := range t.key {
		l, r = r, l^mix32(r^k)
	}
	return l, r
}

func (t *socketTable) unscramble(l, r uint32) (uint32, uint32) {
	for i := len(t.key) - 1; i >= 0; i-- {
		l, r = r^mix32(l^t.key[i]), l
	}
	return l, r
}

// mix32 is a 32-bit integer hash finalizer (good avalanche, no collisions).
func mix32(x uint32) uint32 {
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

// splitSocketID parses "A.B" written as appendID writes it: decimal, no
// sign, no leading zeros, each part within 32 bits.
func splitSocketID(id string) (hi, lo uint32, ok bool) {
	dot := -1
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return 0, 0, false
	}
	a, okA := parseUint32(id[:dot])
	b, okB := parseUint32(id[dot+1:])
	return a, b, okA && okB
}

func parseUint32(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<32-1 {
		return 0, false
	}
	return uint32(v), true
}
