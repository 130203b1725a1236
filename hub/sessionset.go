package hub

import (
	"sync/atomic"
	"unsafe"
)

// loopSubscribers is one loop's subscribers of a channel. Most channels
// have one subscriber on a loop, and a node may run dozens of loops: a loop
// with none costs its 8-byte slot alone, a loop with one keeps it in place,
// and only a second one makes a set (~40 bytes in two objects). Only the
// loop itself changes subs; publishers on other goroutines only ask whether
// it is nil, to skip loops with nobody to deliver to.
//
// subs is nil, the *Session, or a *sessionSet with setTag added: the low
// bit tells the two apart, since both are aligned to 8 bytes. A tagged
// pointer still points inside the set, so the collector keeps it; a count
// beside the pointer would double the slot, which every channel pays once
// per loop.
type loopSubscribers struct {
	subs unsafe.Pointer
}

const setTag = 1

func (ls *loopSubscribers) load() unsafe.Pointer { return atomic.LoadPointer(&ls.subs) }

// occupied reports whether the loop has any subscriber. Any goroutine.
func (ls *loopSubscribers) occupied() bool { return ls.load() != nil }

// set returns the subscribers' set, or nil while there are fewer than two.
// Loop only.
func (ls *loopSubscribers) set() *sessionSet {
	p := ls.load()
	if uintptr(p)&setTag == 0 {
		return nil
	}
	return (*sessionSet)(unsafe.Add(p, -setTag))
}

func (ls *loopSubscribers) storeSet(set *sessionSet) {
	atomic.StorePointer(&ls.subs, unsafe.Add(unsafe.Pointer(set), setTag))
}

// add inserts s, which must not be a subscriber already (a socket
// subscribes to a channel once). Loop only.
func (ls *loopSubscribers) add(s *Session) {
	if set := ls.set(); set != nil {
		set.add(s)
		return
	}
	one := (*Session)(ls.load())
	if one == nil {
		atomic.StorePointer(&ls.subs, unsafe.Pointer(s))
		return
	}
	set := &sessionSet{}
	set.add(one)
	set.add(s)
	ls.storeSet(set)
}

// remove takes s out if it is a subscriber. Loop only.
func (ls *loopSubscribers) remove(s *Session) {
	set := ls.set()
	if set == nil {
		if (*Session)(ls.load()) == s {
			atomic.StorePointer(&ls.subs, nil)
		}
		return
	}
	set.remove(s)
	if set.size() == 1 {
		atomic.StorePointer(&ls.subs, unsafe.Pointer(set.list[0]))
	}
}

// list returns the subscribers; one is room for a single one. Loop only.
func (ls *loopSubscribers) list(one *[1]*Session) []*Session {
	if set := ls.set(); set != nil {
		return set.list
	}
	if one[0] = (*Session)(ls.load()); one[0] == nil {
		return nil
	}
	return one[:]
}

// size counts the subscribers. Loop only.
func (ls *loopSubscribers) size() int {
	var one [1]*Session
	return len(ls.list(&one))
}

// sessionSet is one loop's subscribers of a channel. Most channels have one
// or a few subscribers per loop, where a map costs ~200 bytes and a list
// one pointer each; fan-out also walks a list faster than a map. Past
// setIndexAt members, positions are indexed so removal stays O(1).
type sessionSet struct {
	list []*Session
	pos  map[*Session]int32 // nil while the list is short
}

const setIndexAt = 32

func (st *sessionSet) size() int { return len(st.list) }

// add inserts s, which must not be in the set (a socket subscribes to a
// channel once).
func (st *sessionSet) add(s *Session) {
	if st.pos != nil {
		st.pos[s] = int32(len(st.list))
	}
	st.list = append(st.list, s)
	if st.pos == nil && len(st.list) > setIndexAt {
		st.pos = make(map[*Session]int32, 2*len(st.list))
		for i, x := range st.list {
			st.pos[x] = int32(i)
		}
	}
}

// remove takes s out by moving the last member into its place.
func (st *sessionSet) remove(s *Session) {
	i := -1
	if st.pos != nil {
		if p, ok := st.pos[s]; ok {
			i = int(p)
			delete(st.pos, s)
		}
	} else {
		for j, x := range st.list {
			if x == s {
				i = j
				break
			}
		}
	}
	if i < 0 {
		return
	}
	last := len(st.list) - 1
	moved := st.list[last]
	st.list[i] = moved
	st.list[last] = nil
	st.list = st.list[:last]
	if st.pos != nil && i != last {
		st.pos[moved] = int32(i)
	}
	if st.pos != nil && len(st.list) <= setIndexAt/2 {
		st.pos = nil
	}
	if cap(st.list) > 64 && len(st.list) < cap(st.list)/4 {
		st.list = append([]*Session(nil), st.list...)
	}
}
