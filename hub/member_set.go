package hub

import "iter"

// memberSet is a presence channel's members by user_id. Most presence
// channels have one member (a user's own channel), so that one is kept in
// place and only a channel with more lists the others: a one-member
// channel then allocates nothing for the set. The order is the order of
// puts until the first remove, which moves the last member into the gap
// (as smallMap does), and the first member first.
type memberSet struct {
	first *localMember
	rest  *smallMap[string, *localMember]
}

func (m *memberSet) len() int {
	switch {
	case m.first == nil:
		return 0
	case m.rest == nil:
		return 1
	}
	return 1 + m.rest.len()
}

func (m *memberSet) get(id string) (*localMember, bool) {
	if m.first == nil {
		return nil, false
	}
	if m.first.id() == id {
		return m.first, true
	}
	if m.rest == nil {
		return nil, false
	}
	return m.rest.get(id)
}

func (m *memberSet) has(id string) bool {
	_, ok := m.get(id)
	return ok
}

// put adds rec under its user_id, or replaces the member of that id.
func (m *memberSet) put(rec *localMember) {
	id := rec.id()
	switch {
	case m.first == nil || m.first.id() == id:
		m.first = rec
		return
	case m.rest == nil:
		m.rest = &smallMap[string, *localMember]{}
	}
	m.rest.put(id, rec)
}

// remove deletes the member of id and returns it.
func (m *memberSet) remove(id string) (*localMember, bool) {
	if m.first == nil {
		return nil, false
	}
	if m.first.id() != id {
		if m.rest == nil {
			return nil, false
		}
		rec, ok := m.rest.remove(id)
		if m.rest.len() == 0 {
			m.rest = nil
		}
		return rec, ok
	}
	rec := m.first
	m.first = nil
	if m.rest != nil {
		last := m.rest.entries[m.rest.len()-1]
		m.rest.remove(last.key)
		m.first = last.val
		if m.rest.len() == 0 {
			m.rest = nil
		}
	}
	return rec, true
}

// all yields every member, in order.
func (m *memberSet) all() iter.Seq[*localMember] {
	return func(yield func(*localMember) bool) {
		if m.first == nil || !yield(m.first) || m.rest == nil {
			return
		}
		for _, e := range m.rest.entries {
			if !yield(e.val) {
				return
			}
		}
	}
}
