package hub

// presenceUsers is an app's sockets by presence user_id, for
// terminate_connections; guarded by App.mu. It is a multiset: a socket is
// in it once per presence subscription it has as the user. Nearly every
// user has one socket with one presence subscription, so one map keeps one
// occurrence each, a bare pointer (a map entry of a key and a pointer
// rather than of a key and a count-and-set, some 30 bytes less per user);
// the other occurrences are counted in more, which stays empty for them.
// A shared user_id ("guest") can have many thousands of sockets: every
// step here costs the same however many there are.
type presenceUsers struct {
	one  map[string]*Session
	more map[string]map[*Session]int32
}

func (u *presenceUsers) add(id string, s *Session) {
	if u.one == nil {
		u.one = map[string]*Session{}
	}
	if u.one[id] == nil {
		u.one[id] = s
		return
	}
	if u.more == nil {
		u.more = map[string]map[*Session]int32{}
	}
	set := u.more[id]
	if set == nil {
		set = map[*Session]int32{}
		u.more[id] = set
	}
	set[s]++
}

// remove takes one occurrence of s out; it must be in.
func (u *presenceUsers) remove(id string, s *Session) {
	set := u.more[id]
	if u.one[id] == s {
		if len(set) == 0 {
			delete(u.one, id)
			return
		}
		// Any other occurrence takes the bare slot.
		for next := range set {
			s = next
			break
		}
		u.one[id] = s
	}
	if set == nil {
		return // not in: nothing to take out
	}
	if set[s]--; set[s] <= 0 {
		delete(set, s)
	}
	if len(set) == 0 {
		delete(u.more, id)
	}
}

// sockets lists the user's sockets, each once.
func (u *presenceUsers) sockets(id string) []*Session {
	first := u.one[id]
	if first == nil {
		return nil
	}
	set := u.more[id]
	out := make([]*Session, 1, 1+len(set))
	out[0] = first
	for s := range set {
		if s != first {
			out = append(out, s)
		}
	}
	return out
}
