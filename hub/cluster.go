package hub

import (
	"log"
	"sort"
	"sync"

	"github.com/resound/resound/protocol"
)

// The glue between the hub's in-memory state and a RedisCluster. The hub
// keeps the exact local view (its own sockets); Redis holds the cluster's.

// memberJSON is how a member is stored in Redis.
func memberJSON(m protocol.Member) string {
	b := append([]byte(`{"user_id":`), m.IDJSON...)
	if m.Info != nil {
		b = append(b, `,"user_info":`...)
		b = append(b, m.Info...)
	}
	return string(append(b, '}'))
}

// presenceFromJSON builds the subscription_succeeded presence object from
// stored members.
func presenceFromJSON(members []string) []byte {
	var list []protocol.Member
	seen := map[string]bool{}
	for _, js := range members {
		m, err := protocol.DecodeMember(js)
		if err != nil || seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return encodePresence(list)
}

// snapshot is this node's occupancy of one app, for other nodes' queries.
func (h *Hub) snapshot(appID string) (map[string]int, int) {
	a := h.apps[appID]
	if a == nil {
		return nil, 0
	}
	out := map[string]int{}
	for _, ci := range a.localChannels("") {
		out[ci.Name] = ci.SubscriptionCount
	}
	return out, a.Connections()
}

// presenceMessage builds the member_added or member_removed for a change.
func (h *Hub) presenceMessage(c presenceChange) (Message, bool) {
	m, err := protocol.DecodeMember(c.member)
	if err != nil {
		return Message{}, false
	}
	payload := protocol.MemberRemoved(c.channel, m.IDJSON)
	if c.added {
		payload = protocol.MemberAdded(c.channel, m.IDJSON, m.Info)
	}
	return Message{Kind: KindEvent, AppID: c.app, Channel: c.channel, UserID: m.ID, Version: c.version, Payload: payload, Origin: h.nodeID}, true
}

// resync re-registers this node's presence after Redis returned (it may have
// lost everything, or only missed our leaves) and announces the difference.
func (h *Hub) resync() {
	rc := h.cluster
	for _, a := range h.apps {
		local := map[string]map[string]localMember{}
		a.mu.RLock()
		for name, ch := range a.channels {
			if !ch.kind.IsPresence() {
				continue
			}
			ch.mu.Lock()
			ms := map[string]localMember{}
			for uid, m := range ch.members {
				ms[uid] = localMember{count: m.sockets, json: memberJSON(m.Member)}
			}
			ch.mu.Unlock()
			local[name] = ms
		}
		a.mu.RUnlock()
		if stale, err := rc.nodePresenceChannels(a.ID); err == nil {
			for _, name := range stale {
				if _, ok := local[name]; !ok {
					local[name] = map[string]localMember{}
				}
			}
		}
		for name, ms := range local {
			changes, err := rc.sync(a.ID, name, ms)
			if err != nil {
				log.Printf("scaling: re-registering presence of %s failed: %v", name, err)
				rc.resyncWant.Store(true)
				return
			}
			for _, c := range changes {
				if msg, ok := h.presenceMessage(c); ok {
					msg.SkipOrigin = h.offline.take(a.ID, name, msg.UserID, c.added)
					_ = rc.Publish(msg)
				}
			}
		}
		// Users who left here during the outage and whom Redis no longer
		// knows (it lost its data): the other nodes must still hear it.
		for _, n := range h.offline.drain(a.ID) {
			if n.joined {
				continue // re-registered by the sync above
			}
			if here, err := rc.present(a.ID, n.channel, n.member.ID); err == nil && !here {
				_ = rc.Publish(Message{Kind: KindEvent, AppID: a.ID, Channel: n.channel, UserID: n.member.ID, SkipOrigin: true,
					Payload: protocol.MemberRemoved(n.channel, n.member.IDJSON), Origin: h.nodeID})
			}
		}
	}
	log.Printf("scaling: presence re-registered with Redis")
}

// offlineNews is presence news told only to this node's sockets while
// Redis was down, by app, channel and user; the last news about a user wins.
type offlineNews struct {
	mu   sync.Mutex
	news map[offlineKey]offlineItem
}

type offlineKey struct{ app, channel, user string }

type offlineItem struct {
	channel string
	member  protocol.Member
	joined  bool
}

func (o *offlineNews) note(app, channel string, m protocol.Member, joined bool) {
	o.mu.Lock()
	if o.news == nil {
		o.news = map[offlineKey]offlineItem{}
	}
	o.news[offlineKey{app, channel, m.ID}] = offlineItem{channel, m, joined}
	o.mu.Unlock()
}

// take reports (and forgets) whether this node already told its sockets
// that user joined (or left) the channel.
func (o *offlineNews) take(app, channel, user string, joined bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := offlineKey{app, channel, user}
	it, ok := o.news[k]
	if ok && it.joined == joined {
		delete(o.news, k)
		return true
	}
	return false
}

// drain returns and forgets an app's remaining news.
func (o *offlineNews) drain(app string) []offlineItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []offlineItem
	for k, it := range o.news {
		if k.app == app {
			out = append(out, it)
			delete(o.news, k)
		}
	}
	return out
}
