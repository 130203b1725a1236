package hub

import (
	"context"
	"errors"
	"sync"
	"time"
)

var errBusClosed = errors.New("the bus is closed")

// ErrUnconfirmed marks a publish whose outcome is unknown: it was sent, and
// the answer did not come in time. No bus can rule out both losing and
// duplicating such an event (Redis may have run it just before it hung), so
// the API says so instead of promising either: the event is delivered at
// most once, and a blind retry may deliver it twice.
var ErrUnconfirmed = errors.New("the publish was not confirmed")

// MessageKind says what a bus message asks every node to do.
type MessageKind uint8

const (
	// KindEvent delivers Payload to the channel's subscribers.
	KindEvent MessageKind = iota + 1
	// KindTerminate closes the sockets of user UserID.
	KindTerminate
)

// Message is what one node publishes for every node (itself included).
type Message struct {
	Kind    MessageKind `json:"k"`
	AppID   string      `json:"a"`
	Channel string      `json:"c,omitempty"`
	// Payload is the encoded Pusher message, ready to frame.
	Payload []byte `json:"p,omitempty"`
	// ExceptSocket is a socket_id that must not receive it.
	ExceptSocket string `json:"x,omitempty"`
	// UserID: for KindTerminate, whose sockets to close; for presence
	// news, the user it is about (never delivered to that user's sockets).
	UserID string `json:"u,omitempty"`
	// Origin is the publishing node's id.
	Origin string `json:"o,omitempty"`
	// Version orders presence news on a channel: a socket whose member list
	// already reflects this version does not get it again.
	Version int64 `json:"v,omitempty"`
	// SkipOrigin: the publishing node already told its own sockets (it did
	// so while Redis was down).
	SkipOrigin bool `json:"s,omitempty"`
	// Cached marks an event published through the HTTP API on a cache
	// channel: the only kind of message a cache channel keeps as its last
	// event (never presence news, never a whisper).
	Cached bool `json:"ca,omitempty"`
	// Order is the message's place in its app's bus order, set by the bus
	// when it delivers (a subscriber replayed a cached event skips cached
	// deliveries up to it).
	Order Order `json:"-"`
	// CacheTTL is how long a Cached event stays its channel's last event
	// (the app's cache_ttl); a bus that stores the cache uses it.
	CacheTTL time.Duration `json:"-"`
	// Event and Data, set on an HTTP API event, are what Payload encodes
	// (protocol.AppEvent(Event, Channel, Data)): a bus that serialises
	// messages sends Data once for all the channels of one event.
	Event string `json:"-"`
	Data  string `json:"-"`
}

// Bus carries messages between the nodes of a cluster. Every node receives
// every message exactly once, all nodes in the same order.
type Bus interface {
	// Start begins delivering every published message to deliver, from one
	// goroutine, in bus order.
	Start(nodeID string, deliver func(Message)) error
	// PublishWait returns once the bus has taken every message of msgs, as
	// one unit: all of them are delivered, in order, or (on error) none is,
	// on any node, ever. It may block until ctx or the bus's own deadline
	// ends, so it is for API goroutines, never an event loop. A caller that
	// publishes after PublishWait returned is delivered after it everywhere.
	PublishWait(ctx context.Context, msgs []Message) error
	// Publish queues m without blocking (for event loops: whispers, presence
	// news). Best effort: while the bus is down it may reach only this node.
	Publish(m Message) error
	Close() error
}

// LocalBus is the single-node bus: a publish is delivered at once, in the
// caller's goroutine; a lock keeps concurrent publishers' messages whole and
// in one order.
type LocalBus struct {
	mu      sync.Mutex
	deliver func(Message)
	// seq numbers the publishes: the Order of what it delivers.
	seq uint64
}

// NewLocalBus returns a bus for one node.
func NewLocalBus() *LocalBus { return &LocalBus{} }

func (b *LocalBus) Start(_ string, deliver func(Message)) error {
	b.mu.Lock()
	b.deliver = deliver
	b.mu.Unlock()
	return nil
}

func (b *LocalBus) PublishWait(ctx context.Context, msgs []Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deliver == nil {
		return errBusClosed
	}
	b.seq++
	for i, m := range msgs {
		m.Order = Order{Seq: b.seq, Pos: uint32(i)}
		b.deliver(m)
	}
	return nil
}

func (b *LocalBus) Publish(m Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deliver == nil {
		return errBusClosed
	}
	b.seq++
	m.Order = Order{Seq: b.seq}
	b.deliver(m)
	return nil
}

func (b *LocalBus) Close() error {
	b.mu.Lock()
	b.deliver = nil
	b.mu.Unlock()
	return nil
}
