package hub

import "sync"

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
}

// Bus carries messages between the nodes of a cluster. Delivery must reach
// every node exactly once, in publish order per channel. Publish must not
// block an event loop for long: an implementation that talks to a network
// queues and returns.
type Bus interface {
	// Start begins delivering every published message to deliver.
	Start(nodeID string, deliver func(Message)) error
	Publish(m Message) error
	Close() error
}

// LocalBus is the single-node bus: a publish is delivered at once, in the
// caller's goroutine.
type LocalBus struct {
	mu      sync.RWMutex
	deliver func(Message)
}

// NewLocalBus returns a bus for one node.
func NewLocalBus() *LocalBus { return &LocalBus{} }

func (b *LocalBus) Start(_ string, deliver func(Message)) error {
	b.mu.Lock()
	b.deliver = deliver
	b.mu.Unlock()
	return nil
}

func (b *LocalBus) Publish(m Message) error {
	b.mu.RLock()
	d := b.deliver
	b.mu.RUnlock()
	if d != nil {
		d(m)
	}
	return nil
}

func (b *LocalBus) Close() error {
	b.mu.Lock()
	b.deliver = nil
	b.mu.Unlock()
	return nil
}
