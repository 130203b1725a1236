package hub

// A socket's subscriptions live in Session.subs, in no particular order
// (removal moves the last one into the gap). Most sockets hold one or two
// channels, so a short slice scanned linearly is both the smallest and the
// fastest form; only a socket with more than linearSubs channels gets an
// index by channel name, and loses it again when it shrinks back.
const linearSubs = 8

// subIndex returns the position of the subscription to name, or -1.
func (s *Session) subIndex(name string) int {
	if s.byName != nil {
		if i, ok := s.byName[name]; ok {
			return int(i)
		}
		return -1
	}
	for i := range s.subs {
		if s.subs[i].ch.name == name {
			return i
		}
	}
	return -1
}

// subOn returns the subscription to ch, or nil. It runs for every delivery
// on presence and cache channels, so it must stay O(1).
func (s *Session) subOn(ch *Channel) *subscription {
	if s.byName == nil {
		for i := range s.subs {
			if s.subs[i].ch == ch {
				return &s.subs[i]
			}
		}
		return nil
	}
	if i, ok := s.byName[ch.name]; ok && s.subs[i].ch == ch {
		return &s.subs[i]
	}
	return nil
}

// addSub records a new subscription and returns its position.
func (s *Session) addSub(sub subscription) int {
	s.subs = append(s.subs, sub)
	i := len(s.subs) - 1
	switch {
	case s.byName != nil:
		s.byName[sub.ch.name] = int32(i)
	case len(s.subs) > linearSubs:
		s.byName = make(map[string]int32, len(s.subs)*2)
		for j := range s.subs {
			s.byName[s.subs[j].ch.name] = int32(j)
		}
	}
	return i
}

// removeSubAt forgets s.subs[i] and returns it. Positions of the others
// may change.
func (s *Session) removeSubAt(i int) subscription {
	sub := s.subs[i]
	last := len(s.subs) - 1
	if s.byName != nil {
		delete(s.byName, sub.ch.name)
		if i != last {
			s.byName[s.subs[last].ch.name] = int32(i)
		}
	}
	s.subs[i] = s.subs[last]
	s.subs[last] = subscription{}
	s.subs = s.subs[:last]
	if s.byName != nil && len(s.subs) <= linearSubs/2 {
		s.byName = nil
	}
	// A socket that once held many channels gives the memory back.
	if c := cap(s.subs); c > 2*linearSubs && len(s.subs) < c/4 {
		s.subs = append(make([]subscription, 0, 2*len(s.subs)), s.subs...)
	}
	return sub
}
