package hub

import "unsafe"

// A socket's subscriptions live in Session.subs, in no particular order
// (removal moves the last one into the gap). Most sockets hold one or two
// channels, so a short array scanned linearly is both the smallest and the
// fastest form; only a socket with more than linearSubs channels gets an
// index by channel name (in sessionMore), and loses it again when it
// shrinks back.
const linearSubs = 8

// subList is the socket's subscriptions; positions stay valid until the
// next addSub or removeSubAt.
func (s *Session) subList() []subscription { return unsafe.Slice(s.subs, s.nsubs) }

// subsByName is the index by channel name, or nil.
func (s *Session) subsByName() map[string]int32 {
	if s.more == nil {
		return nil
	}
	return s.more.byName
}

// subIndex returns the position of the subscription to name, or -1.
func (s *Session) subIndex(name string) int {
	if byName := s.subsByName(); byName != nil {
		if i, ok := byName[name]; ok {
			return int(i)
		}
		return -1
	}
	for i, sub := range s.subList() {
		if sub.ch.name == name {
			return i
		}
	}
	return -1
}

// subOn returns the subscription to ch, or nil. It runs for every delivery
// on presence and cache channels, so it must stay O(1).
func (s *Session) subOn(ch *Channel) *subscription {
	subs := s.subList()
	byName := s.subsByName()
	if byName == nil {
		for i := range subs {
			if subs[i].ch == ch {
				return &subs[i]
			}
		}
		return nil
	}
	if i, ok := byName[ch.name]; ok && subs[i].ch == ch {
		return &subs[i]
	}
	return nil
}

// addSub records a new subscription and returns its position.
func (s *Session) addSub(sub subscription) int {
	if s.nsubs == s.subsCap {
		s.resizeSubs(max(1, 2*int(s.subsCap)))
	}
	i := int(s.nsubs)
	s.nsubs++
	subs := s.subList()
	subs[i] = sub
	byName := s.subsByName()
	switch {
	case byName != nil:
		byName[sub.ch.name] = int32(i)
	case len(subs) > linearSubs:
		byName = make(map[string]int32, len(subs)*2)
		for j := range subs {
			byName[subs[j].ch.name] = int32(j)
		}
		s.moreState().byName = byName
	}
	return i
}

// resizeSubs moves the subscriptions to room for n.
func (s *Session) resizeSubs(n int) {
	if n == 0 {
		s.subs, s.subsCap = nil, 0
		return
	}
	room := make([]subscription, n)
	copy(room, s.subList())
	s.subs, s.subsCap = &room[0], int32(n)
}

// removeSubAt forgets subscription i and returns it. Positions of the
// others may change.
func (s *Session) removeSubAt(i int) subscription {
	subs := s.subList()
	sub := subs[i]
	last := len(subs) - 1
	byName := s.subsByName()
	if byName != nil {
		delete(byName, sub.ch.name)
		if i != last {
			byName[subs[last].ch.name] = int32(i)
		}
	}
	subs[i] = subs[last]
	subs[last] = subscription{}
	s.nsubs--
	if byName != nil && int(s.nsubs) <= linearSubs/2 {
		s.more.byName = nil
	}
	// A socket that once held many channels gives the memory back.
	if c := int(s.subsCap); c > 2*linearSubs && int(s.nsubs) < c/4 {
		s.resizeSubs(2 * int(s.nsubs))
	}
	return sub
}
