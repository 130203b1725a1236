package hub

import (
	"sync/atomic"
	"unsafe"
)

// loopSubscribers is one loop's subscribers of a channel. Most channels
// have one subscriber on a loop, and a node may run dozens of loops: a loop
// with none costs the slot alone, a loop with one keeps it in place, and
// only a second one makes a set (~40 bytes in two objects). Only the loop
// itself touches subs, and count (which only that loop changes) says what
// subs holds: nothing at 0, the *Session at 1, a *sessionSet from 2 on.
type loopSubscribers struct {
	subs  unsafe.Pointer
	count atomic.Int64
}

// add inserts s, which must not be a subscriber already (a socket
// subscribes to a channel once). Loop only.
func (ls *loopSubscribers) add(s *Session) {
	switch ls.count.Load() {
	case 0:
		ls.subs = unsafe.Pointer(s)
	case 1:
		set := &sessionSet{}
		set.add((*Session)(ls.subs))
		set.add(s)
		ls.subs = unsafe.Pointer(set)
	default:
		(*sessionSet)(ls.subs).add(s)
	}
	ls.count.Add(1)
}

// remove takes s out if it is a subscriber. Loop only.
func (ls *loopSubscribers) remove(s *Session) {
	switch n := ls.count.Load(); {
	case n == 0:
		return
	case n == 1:
		if (*Session)(ls.subs) != s {
			return
		}
		ls.subs = nil
	default:
		set := (*sessionSet)(ls.subs)
		before := set.size()
		set.remove(s)
		if set.size() == before {
			return
		}
		if set.size() == 1 {
			ls.subs = unsafe.Pointer(set.list[0])
		}
	}
	ls.count.Add(-1)
}

// list returns the subscribers; one is room for a single one. Loop only.
func (ls *loopSubscribers) list(one *[1]*Session) []*Session {
	switch ls.count.Load() {
	case 0:
		return nil
	case 1:
		one[0] = (*Session)(ls.subs)
		return one[:]
	default:
		return (*sessionSet)(ls.subs).list
	}
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
