package hub

// presenceUsers is an app's sockets by presence user_id, for
// terminate_connections; guarded by App.mu. It is a multiset: a socket is
// in it once per presence subscription it has as the user. Nearly every
// user has one socket with one presence subscription, so one map keeps one
// occurrence each, a bare pointer (a map entry of a key and a pointer
// rather than of a key and a count-and-list, some 30 bytes less per user);
// the other occurrences wait in more, which stays empty for them.
type presenceUsers struct {
	one  map[string]*Session
	more map[string][]*Session
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
		u.more = map[string][]*Session{}
	}
	u.more[id] = append(u.more[id], s)
}

// remove takes one occurrence of s out; it must be in.
func (u *presenceUsers) remove(id string, s *Session) {
	more := u.more[id]
	if u.one[id] == s {
		if len(more) == 0 {
			delete(u.one, id)
			return
		}
		u.one[id] = more[len(more)-1]
		more = more[:len(more)-1]
	} else {
		for i, x := range more {
			if x == s {
				more[i] = more[len(more)-1]
				more = more[:len(more)-1]
				break
			}
		}
	}
	if len(more) == 0 {
		delete(u.more, id)
	} else {
		u.more[id] = more
	}
}

// sockets lists the user's sockets, each once.
func (u *presenceUsers) sockets(id string) []*Session {
	first := u.one[id]
	if first == nil {
		return nil
	}
	out := []*Session{first}
	for _, s := range u.more[id] {
		if !containsSession(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func containsSession(list []*Session, s *Session) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
