package hub

import (
	"context"
	"sort"
	"sync"
)

// MemoryPresence is Presence for one node.
type MemoryPresence struct {
	mu       sync.Mutex
	news     func(MemberNews)
	channels memoryChannels
	// version is shared by every channel so it only grows, also when a
	// channel empties and comes back.
	version int64
}

type chanKey struct{ app, channel string }

// memoryChannels is the users of each channel by app, then channel: a
// channel's entry is then keyed by its name alone (half the bytes of an
// app-and-channel key, for every presence channel).
type memoryChannels map[string]map[string]*memoryUsers

func (c memoryChannels) get(k chanKey) *memoryUsers { return c[k.app][k.channel] }

func (c memoryChannels) set(k chanKey, users *memoryUsers) {
	byName := c[k.app]
	if byName == nil {
		byName = map[string]*memoryUsers{}
		c[k.app] = byName
	}
	byName[k.channel] = users
}

func (c memoryChannels) del(k chanKey) {
	if byName := c[k.app]; byName != nil {
		delete(byName, k.channel)
		if len(byName) == 0 {
			delete(c, k.app)
		}
	}
}

// memoryUsers is a channel's users: most channels have a few.
type memoryUsers = smallMap[string, memoryMember]

type memoryMember struct {
	sockets int
	member  string
}

// NewMemoryPresence returns an empty Presence for one node.
func NewMemoryPresence() *MemoryPresence {
	return &MemoryPresence{channels: memoryChannels{}}
}

func (p *MemoryPresence) Start(_ string, news func(MemberNews)) error {
	p.mu.Lock()
	p.news = news
	p.mu.Unlock()
	return nil
}

// change records one user's arrival or departure; the news goes out under
// the lock so it is delivered in version order.
func (p *MemoryPresence) change(app, channel, userID, member string, added bool) {
	p.version++
	if p.news != nil {
		p.news(MemberNews{App: app, Channel: channel, UserID: userID, Member: member, Added: added, Version: p.version})
	}
}

func (p *MemoryPresence) Join(_ context.Context, app, channel, userID, member string, max int) (PresenceList, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := chanKey{app, channel}
	users := p.channels.get(k)
	if users == nil {
		users = &memoryUsers{}
	}
	m := users.ptr(userID)
	if m == nil && max > 0 && users.len() >= max {
		return PresenceList{}, ErrPresenceFull
	}
	p.channels.set(k, users)
	joined := false
	if m != nil {
		m.sockets++
		m.member = member
	} else {
		users.put(userID, memoryMember{sockets: 1, member: member})
		p.change(app, channel, userID, member, true)
		joined = true
	}
	list := p.listLocked(k)
	list.Joined = joined
	return list, nil
}

func (p *MemoryPresence) Leave(_ context.Context, app, channel, userID string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropLocked(chanKey{app, channel}, userID, 1), nil
}

// dropLocked removes n sockets of a user (all when n <= 0) and says
// whether the user left.
func (p *MemoryPresence) dropLocked(k chanKey, userID string, n int) bool {
	users := p.channels.get(k)
	if users == nil {
		return false
	}
	m := users.ptr(userID)
	if m == nil {
		return false
	}
	m.sockets -= n
	if n > 0 && m.sockets > 0 {
		return false
	}
	gone, _ := users.remove(userID)
	if users.len() == 0 {
		p.channels.del(k)
	}
	p.change(k.app, k.channel, userID, gone.member, false)
	return true
}

func (p *MemoryPresence) listLocked(k chanKey) PresenceList {
	out := PresenceList{Version: p.version}
	if users := p.channels.get(k); users != nil {
		out.Members = make([]string, 0, users.len())
		for _, e := range users.entries {
			out.Members = append(out.Members, e.val.member)
		}
	} else {
		out.Members = []string{}
	}
	sort.Strings(out.Members)
	return out
}

func (p *MemoryPresence) Members(_ context.Context, app, channel string) (PresenceList, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listLocked(chanKey{app, channel}), nil
}

func (p *MemoryPresence) Count(_ context.Context, app, channel string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if users := p.channels.get(chanKey{app, channel}); users != nil {
		return users.len(), nil
	}
	return 0, nil
}

func (p *MemoryPresence) Sync(_ context.Context, app, channel string, local []LocalMember) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := chanKey{app, channel}
	want := map[string]LocalMember{}
	for _, m := range local {
		want[m.UserID] = m
	}
	var gone []string
	if users := p.channels.get(k); users != nil {
		for _, e := range users.entries {
			if _, ok := want[e.key]; !ok {
				gone = append(gone, e.key)
			}
		}
	}
	for _, uid := range gone {
		p.dropLocked(k, uid, 0)
	}
	for _, m := range local {
		users := p.channels.get(k)
		if users == nil {
			users = &memoryUsers{}
			p.channels.set(k, users)
		}
		if cur := users.ptr(m.UserID); cur != nil {
			cur.sockets, cur.member = m.Sockets, m.Member
			continue
		}
		users.put(m.UserID, memoryMember{sockets: m.Sockets, member: m.Member})
		p.change(app, channel, m.UserID, m.Member, true)
	}
	return nil
}

func (p *MemoryPresence) Registered(_ context.Context, app string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for channel := range p.channels[app] {
		out = append(out, channel)
	}
	sort.Strings(out)
	return out, nil
}

// Reap has nothing to do: the only node is this one.
func (p *MemoryPresence) Reap(context.Context, string) ([]MemberNews, error) { return nil, nil }

func (p *MemoryPresence) Close() error {
	p.mu.Lock()
	p.news = nil
	p.mu.Unlock()
	return nil
}

func (*MemoryPresence) inline() {}

// MemoryOccupancy is Occupancy for one node.
type MemoryOccupancy struct {
	mu     sync.Mutex
	counts map[string]map[string]int // app -> channel -> subscriptions
}

// NewMemoryOccupancy returns empty counts for one node.
func NewMemoryOccupancy() *MemoryOccupancy {
	return &MemoryOccupancy{counts: map[string]map[string]int{}}
}

func (o *MemoryOccupancy) Start(string, func(string) int) error { return nil }

func (o *MemoryOccupancy) Add(_ context.Context, app, channel string, delta int) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.counts[app]
	if m == nil {
		m = map[string]int{}
		o.counts[app] = m
	}
	n := m[channel] + delta
	if n > 0 {
		m[channel] = n
	} else {
		delete(m, channel)
	}
	return max(n, 0), nil
}

// Sync sets the count: on one node, its share is the whole.
func (o *MemoryOccupancy) Sync(ctx context.Context, app, channel string, n int) error {
	o.mu.Lock()
	cur := o.counts[app][channel]
	o.mu.Unlock()
	_, err := o.Add(ctx, app, channel, n-cur)
	return err
}

func (o *MemoryOccupancy) Channels(_ context.Context, app string) (map[string]int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int, len(o.counts[app]))
	for ch, n := range o.counts[app] {
		out[ch] = n
	}
	return out, nil
}

func (o *MemoryOccupancy) Count(_ context.Context, app, channel string) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[app][channel], nil
}

func (*MemoryOccupancy) inline() {}

// OtherConnections is zero: there are no other nodes.
func (o *MemoryOccupancy) OtherConnections(string) int { return 0 }

func (o *MemoryOccupancy) Reap(context.Context, string) ([]ChannelRef, error) { return nil, nil }
func (o *MemoryOccupancy) Close() error                                       { return nil }

// MemoryLiveness is Liveness for one node: it is always alive.
type MemoryLiveness struct{}

func (MemoryLiveness) Start(string, LivenessHooks) error { return nil }
func (MemoryLiveness) Close() error                      { return nil }
