package hub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/resound/resound/protocol"
)

// Monitoring. The hot paths only bump plain atomic counters (per loop where
// every frame passes, per app where it is once per socket or client event);
// a metrics exporter reads them with Snapshot when it is scraped, so an
// unscraped node pays nothing else.

// Refusal is a kind of limit that turned something away.
type Refusal uint8

const (
	RefusedSlowConsumer Refusal = iota
	RefusedTotalConnections
	RefusedAppConnections
	RefusedMessageSize
	RefusedClientEventRate
	RefusedChannelsPerConnection
	RefusedPresenceMembers
	RefusedPresenceMemberSize
	RefusedJoinQueue
	RefusedAPIQueue
	RefusedAPITimeout
	numRefusals
)

var refusalNames = [numRefusals]string{
	"slow_consumer",
	"max_total_connections",
	"max_connections",
	"max_message_size",
	"client_events_per_second",
	"max_channels_per_connection",
	"max_presence_members_per_channel",
	"max_presence_member_size",
	"join_queue",
	"api_queue",
	"api_timeout",
}

func (r Refusal) String() string { return refusalNames[r] }

// Refused counts one refusal; any goroutine may call it (refusals are rare
// next to frames, so one shared counter per kind is enough).
func (h *Hub) Refused(r Refusal) { h.refusals[r].Add(1) }

// RedisOp is which part of the Redis scaling failed.
type RedisOp uint8

const (
	// RedisState: presence, occupancy, heartbeats (the cluster state).
	RedisState RedisOp = iota
	RedisBusPublish
	RedisBusRead
	// RedisBusQueue: a queued client event or presence update was dropped
	// or lost.
	RedisBusQueue
	numRedisOps
)

var redisOpNames = [numRedisOps]string{"state", "bus_publish", "bus_read", "bus_queue"}

func (o RedisOp) String() string { return redisOpNames[o] }

// redisErrors is per process: the Redis types do not know their hub.
var redisErrors [numRedisOps]atomic.Uint64

func countRedisError(op RedisOp) { redisErrors[op].Add(1) }

// Observer receives timings that need a histogram; nil means none are
// taken. Its methods must be cheap and safe from any goroutine.
type Observer interface {
	// FannedOut: from this node taking an event off the bus to the last
	// event loop having handed it to its last subscriber.
	FannedOut(d time.Duration)
	// BusPublished: how long the bus took to take an HTTP API publish.
	BusPublished(d time.Duration, err error)
}

// appStats are an app's counters on this node.
type appStats struct {
	opened       atomic.Uint64
	clientEvents atomic.Uint64
	// presenceMembers: users with a socket here, summed over presence
	// channels (changed where a user's first socket joins or last leaves).
	presenceMembers atomic.Int64
	// channels and subscriptions by kind are guarded by the app's mu and
	// kept where join and leave already hold it, so a scrape copies them
	// instead of walking every channel under the lock the loops need.
	channels      [NumKinds]int
	subscriptions [NumKinds]int
}

// loopStats are written by one event loop only; the padding keeps loops
// from sharing a cache line.
type loopStats struct {
	_          [64]byte
	deliveries atomic.Uint64
	_          [56]byte
}

// NumKinds is how many channel kinds there are (protocol.Kind values).
const NumKinds = int(protocol.EncryptedCache) + 1

// KindName names a channel kind for labels.
func KindName(k protocol.Kind) string {
	switch k {
	case protocol.Private:
		return "private"
	case protocol.Encrypted:
		return "private-encrypted"
	case protocol.Presence:
		return "presence"
	case protocol.Cache:
		return "cache"
	case protocol.PrivateCache:
		return "private-cache"
	case protocol.PresenceCache:
		return "presence-cache"
	case protocol.EncryptedCache:
		return "private-encrypted-cache"
	}
	return "public"
}

// AppSnapshot is one app's state on this node at scrape time.
type AppSnapshot struct {
	ID           string
	Connections  int64
	Opened       uint64
	ClientEvents uint64
	// Channels and Subscriptions by protocol.Kind.
	Channels      [NumKinds]int
	Subscriptions [NumKinds]int
	// PresenceMembers sums, over presence channels, the users with a
	// socket on this node.
	PresenceMembers int
}

// Snapshot is the hub's counters and gauges at one moment.
type Snapshot struct {
	Apps []AppSnapshot
	// Deliveries: frames the fan-out handed to sockets (one per socket per
	// event).
	Deliveries  uint64
	Refusals    [numRefusals]uint64
	RedisErrors [numRedisOps]uint64
}

// Snapshot reads every counter. It holds each app's lock only to copy two
// small arrays, so it may run while the loops work.
func (h *Hub) Snapshot() Snapshot {
	var s Snapshot
	for _, d := range h.loops {
		s.Deliveries += d.stats.deliveries.Load()
	}
	for i := range s.Refusals {
		s.Refusals[i] = h.refusals[i].Load()
	}
	for i := range s.RedisErrors {
		s.RedisErrors[i] = redisErrors[i].Load()
	}
	s.Apps = make([]AppSnapshot, 0, len(h.apps))
	for _, a := range h.apps {
		as := AppSnapshot{ID: a.ID, Connections: a.connections.Load(),
			Opened: a.stats.opened.Load(), ClientEvents: a.stats.clientEvents.Load()}
		as.PresenceMembers = int(a.stats.presenceMembers.Load())
		a.mu.RLock()
		as.Channels, as.Subscriptions = a.stats.channels, a.stats.subscriptions
		a.mu.RUnlock()
		s.Apps = append(s.Apps, as)
	}
	return s
}

// RefusalName and RedisOpName name the indexes of Snapshot's arrays.
func RefusalName(i int) string { return Refusal(i).String() }
func RedisOpName(i int) string { return RedisOp(i).String() }

// fanOutTrack times one event's fan-out on this node: every loop the event
// is queued on counts down once it has written it; the last one reports.
type fanOutTrack struct {
	start     time.Time
	remaining atomic.Int32
	observer  Observer
}

// done counts down one loop (or the publisher's own hold); the last one
// reports the duration.
func (t *fanOutTrack) done() {
	if t.remaining.Add(-1) == 0 {
		t.observer.FannedOut(time.Since(t.start))
		fanOutTracks.Put(t)
	}
}

var fanOutTracks = sync.Pool{New: func() any { return new(fanOutTrack) }}

// newFanOutTrack starts timing a fan-out over loops event loops: each loop
// counts down once, and the publisher once more when it has queued them all.
func newFanOutTrack(obs Observer, loops int) *fanOutTrack {
	t := fanOutTracks.Get().(*fanOutTrack)
	t.start, t.observer = time.Now(), obs
	t.remaining.Store(int32(loops) + 1)
	return t
}
