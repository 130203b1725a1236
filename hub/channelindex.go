package hub

import (
	"hash/maphash"
	"iter"
)

// channelIndex finds an app's channels by name. A Go map[string]*Channel
// keeps a copy of every name's header next to the pointer and grows in
// steps that leave it half empty: ~43 bytes per channel, paid by every
// socket with a channel of its own. The name is already in the Channel, so
// this table keeps only the pointer and one byte of the name's hash per
// slot (~15 bytes per channel): open addressing with linear probing, grown
// at 3/4 full and shrunk below 1/8, deleting by shifting the rest of a run
// back so no tombstones build up. The tag byte lets a probe skip most
// other channels without reading them. The app's mu guards it.
type channelIndex struct {
	seed maphash.Seed
	// tags[i] is 0 for an empty slot, else tagOf(the name's hash).
	tags  []uint8
	slots []*Channel
	n     int
}

const minChannelSlots = 8

func newChannelIndex() channelIndex {
	return channelIndex{seed: maphash.MakeSeed()}
}

// tagOf is the slot's tag for a hash: its top seven bits, never zero.
func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

func (x *channelIndex) hash(name string) uint64 { return maphash.String(x.seed, name) }

func (x *channelIndex) len() int { return x.n }

// get returns the channel named name, or nil. It allocates nothing.
func (x *channelIndex) get(name string) *Channel {
	if x.n == 0 {
		return nil
	}
	h := x.hash(name)
	tag, mask := tagOf(h), uint64(len(x.slots)-1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t := x.tags[i]; {
		case t == 0:
			return nil
		case t == tag && x.slots[i].name == name:
			return x.slots[i]
		}
	}
}

// put adds ch, whose name must not be in the index yet.
func (x *channelIndex) put(ch *Channel) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(max(minChannelSlots, 2*len(x.slots)))
	}
	x.insert(ch, x.hash(ch.name))
	x.n++
}

func (x *channelIndex) insert(ch *Channel, h uint64) {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.tags[i] != 0 {
		i = (i + 1) & mask
	}
	x.tags[i], x.slots[i] = tagOf(h), ch
}

// remove takes ch out; it reports whether ch (this very channel, not just
// one of its name) was there.
func (x *channelIndex) remove(ch *Channel) bool {
	if x.n == 0 {
		return false
	}
	mask := uint64(len(x.slots) - 1)
	i := x.hash(ch.name) & mask
	for ; x.slots[i] != ch; i = (i + 1) & mask {
		if x.tags[i] == 0 {
			return false
		}
	}
	// Shift back the rest of the run: an entry may move into the hole
	// unless the hole lies before its home slot (cyclically), or a lookup
	// for it would stop at the hole.
	for j := (i + 1) & mask; x.tags[j] != 0; j = (j + 1) & mask {
		home := x.hash(x.slots[j].name) & mask
		if (j-home)&mask >= (j-i)&mask {
			x.tags[i], x.slots[i] = x.tags[j], x.slots[j]
			i = j
		}
	}
	x.tags[i], x.slots[i] = 0, nil
	x.n--
	if len(x.slots) > minChannelSlots && x.n*8 < len(x.slots) {
		x.resize(len(x.slots) / 2)
	}
	return true
}

// resize moves every channel into a table of size slots (a power of two).
func (x *channelIndex) resize(size int) {
	old := x.slots
	x.tags, x.slots = make([]uint8, size), make([]*Channel, size)
	for _, ch := range old {
		if ch != nil {
			x.insert(ch, x.hash(ch.name))
		}
	}
}

// all yields every channel, in no particular order; the index must not
// change meanwhile.
func (x *channelIndex) all() iter.Seq[*Channel] {
	return func(yield func(*Channel) bool) {
		for _, ch := range x.slots {
			if ch != nil && !yield(ch) {
				return
			}
		}
	}
}
