package hub

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resound/resound/internal/ratelog"
)

// Executor runs fn on one event loop's goroutine, later.
type Executor interface {
	Execute(fn func())
}

// Outbox is the engine's side of one socket. Both methods are called only on
// the socket's own loop goroutine.
type Outbox interface {
	// Send writes already-framed messages, coalesced into one write.
	Send(frames ...[]byte)
	// Kick sends pusher:error with code and message, then closes the socket.
	Kick(code int, message string)
}

// Options wires the hub to the engine and the bus.
type Options struct {
	// Loops is the number of event loops; sockets name theirs by index.
	Loops int
	// Frame wraps a payload in a WebSocket text frame, once per broadcast.
	Frame func(payload []byte) []byte
	// AppFrame, when set, gives each app its own Frame (say, one that also
	// compresses by the app's settings); a nil result keeps Frame.
	AppFrame func(app AppConfig) func(payload []byte) []byte
	// Bus carries publishes to every node; nil means a LocalBus.
	Bus Bus
	// Cache keeps cache channels' last events; nil means a MemoryCache.
	Cache EventCache
	// Presence is presence membership; nil means a MemoryPresence.
	Presence Presence
	// Occupancy counts subscriptions and sockets; nil means a MemoryOccupancy.
	Occupancy Occupancy
	// Liveness tracks the nodes; nil means a MemoryLiveness.
	Liveness Liveness
	// Hooks takes events for the apps' webhooks; nil means none.
	Hooks Hooks
	// SettleTime is how long a node waits after registering its members
	// again (after a Redis outage) before it corrects its sockets' member
	// lists; every node must have registered again by then (2 s).
	SettleTime time.Duration
	// NodeID names this node on the bus; random when empty.
	NodeID string
	// Clock is this node's wall clock (time.Now when nil). Nothing shared
	// between nodes reads it: liveness runs on the store's clock, so nodes
	// whose clocks disagree still agree on who is alive.
	Clock func() time.Time
	// Logf receives debug lines when set.
	Logf func(format string, args ...any)
	// Observer receives fan-out and bus timings (metrics); nil: none.
	Observer Observer
}

// Hub is every app this node serves.
type Hub struct {
	opts  Options
	apps  map[string]*App // by id
	byKey map[string]*App
	loops []*dispatcher
	bus   Bus
	cache EventCache
	// cacheOnDeliver: the cache is not written by the bus, so the node that
	// published a cached event stores it as it delivers it.
	cacheOnDeliver bool
	// reads runs cache reads that a subscribe on an event loop needs.
	reads  chan func()
	done   chan struct{}
	closed sync.Once
	rlog   *ratelog.Logger
	nodeID string
	// refusals counts limits that turned something away, by kind.
	refusals [numRefusals]atomic.Uint64

	presence  Presence
	occupancy Occupancy
	liveness  Liveness
	hooks     Hooks
	// scripted: the shared state's scripts queue the cluster-wide webhook
	// events themselves (see wireScriptHooks).
	scripted bool
	// lostGen counts the times Redis lost its data; refilledGen is the
	// count the last complete resync started from. While they differ this
	// node keeps the webhooks quiet cluster-wide (see livenessBeatScript).
	lostGen, refilledGen atomic.Uint64
	work                 *workers
	// inline: the shared state never blocks, so it is called in place.
	inline bool
	// localPresence: this node is the only one, and its presence channels'
	// members are kept in the channels (local_presence.go).
	localPresence bool
	resyncs       chan struct{}
	stop          chan struct{}
	resyncWG      sync.WaitGroup
}

// joinWorkers is how many ordered workers run joins and leaves; the Redis
// client pipelines their round trips together.
const joinWorkers = 32

// New builds a hub for the given apps.
func New(apps []AppConfig, opts Options) (*Hub, error) {
	if opts.Loops <= 0 {
		opts.Loops = 1
	}
	if opts.Loops > maxLoops {
		return nil, fmt.Errorf("hub: %d loops; at most %d are supported", opts.Loops, maxLoops)
	}
	if opts.Frame == nil {
		return nil, errors.New("hub: Options.Frame is required")
	}
	h := &Hub{opts: opts, apps: map[string]*App{}, byKey: map[string]*App{}, rlog: ratelog.New(log.Default(), time.Second)}
	h.nodeID = opts.NodeID
	if h.nodeID == "" {
		h.nodeID = strconv.FormatUint(randomUint64(), 36)
	}
	for _, c := range apps {
		c = c.WithDefaults()
		if c.ID == "" || c.Key == "" || c.Secret == "" {
			return nil, fmt.Errorf("hub: every app needs id, key and secret (app %q)", c.ID)
		}
		switch c.AcceptClientEventsFrom {
		case "members", "all", "none":
		default:
			return nil, fmt.Errorf("hub: app %q: accept_client_events_from is %q; use members, all or none", c.ID, c.AcceptClientEventsFrom)
		}
		if _, dup := h.apps[c.ID]; dup {
			return nil, fmt.Errorf("hub: app id %q is configured twice", c.ID)
		}
		if _, dup := h.byKey[c.Key]; dup {
			return nil, fmt.Errorf("hub: app key %q is configured twice", c.Key)
		}
		a := newApp(h, c)
		h.apps[c.ID] = a
		h.byKey[c.Key] = a
	}
	h.loops = make([]*dispatcher, opts.Loops)
	for i := range h.loops {
		h.loops[i] = &dispatcher{index: i}
	}
	h.bus = opts.Bus
	if h.bus == nil {
		h.bus = NewLocalBus()
	}
	h.cache = opts.Cache
	if h.cache == nil {
		h.cache = NewMemoryCache()
	}
	_, stored := h.cache.(busStoredCache)
	h.cacheOnDeliver = !stored
	h.reads, h.done = make(chan func(), 4096), make(chan struct{})
	for i := 0; i < cacheReaders; i++ {
		go h.readLoop()
	}
	h.presence, h.occupancy, h.liveness, h.hooks = opts.Presence, opts.Occupancy, opts.Liveness, opts.Hooks
	if h.presence == nil {
		h.presence = localPresence{MemoryPresence: NewMemoryPresence(), hub: h}
		h.localPresence = true
	}
	if h.occupancy == nil {
		h.occupancy = localOccupancy{hub: h}
	}
	if h.liveness == nil {
		h.liveness = MemoryLiveness{}
	}
	h.wireScriptHooks()
	if h.opts.SettleTime <= 0 {
		h.opts.SettleTime = 2 * time.Second
	}
	_, presenceInline := h.presence.(inline)
	_, occupancyInline := h.occupancy.(inline)
	h.inline = presenceInline && occupancyInline
	h.work = newWorkers(joinWorkers)
	h.resyncs = make(chan struct{}, 1)
	h.stop = make(chan struct{})
	h.resyncWG.Add(1)
	go h.resyncLoop()
	h.startSubscriptionCounts()
	if err := h.bus.Start(h.nodeID, h.receive); err != nil {
		h.closed.Do(func() { close(h.done) })
		return nil, err
	}
	if err := h.presence.Start(h.nodeID, h.applyNews); err != nil {
		return nil, err
	}
	if err := h.occupancy.Start(h.nodeID, func(app string) int {
		if a := h.apps[app]; a != nil {
			return a.Connections()
		}
		return 0
	}); err != nil {
		return nil, err
	}
	if err := h.liveness.Start(h.nodeID, LivenessHooks{Reap: h.reap, Resync: h.requestResync,
		DataLost: func() { h.lostGen.Add(1) }, Refilling: h.refilling}); err != nil {
		return nil, err
	}
	return h, nil
}

// AttachLoop gives the hub the executor of loop i; the engine calls it once
// per loop, before any socket of that loop opens.
func (h *Hub) AttachLoop(i int, exec Executor) {
	d := h.loops[i]
	d.mu.Lock()
	d.exec = exec
	d.mu.Unlock()
}

// AppByKey finds the app a socket connects to.
func (h *Hub) AppByKey(key string) *App { return h.byKey[key] }

// AppByID finds the app an HTTP API call names.
func (h *Hub) AppByID(id string) *App { return h.apps[id] }

// Apps lists every app.
func (h *Hub) Apps() []*App {
	out := make([]*App, 0, len(h.apps))
	for _, a := range h.apps {
		out = append(out, a)
	}
	return out
}

// cacheReaders is how many cache reads for subscribers run at once.
const cacheReaders = 4

func (h *Hub) readLoop() {
	for {
		select {
		case <-h.done:
			return
		case fn := <-h.reads:
			fn()
		}
	}
}

// offLoop runs fn on a cache reader; false when they are all backed up.
func (h *Hub) offLoop(fn func()) bool {
	select {
	case h.reads <- fn:
		return true
	default:
		return false
	}
}

// Close finishes queued joins and leaves, leaves the cluster (this node's
// members leave at once) and stops. Only the first call does anything: the
// engine closes the hub when it stops, and a drain may too.
func (h *Hub) Close() error {
	var err error
	h.closed.Do(func() {
		h.work.close()
		close(h.stop)
		h.resyncWG.Wait()
		// Occupancy stops sharing this node's count before liveness removes
		// the node, or a last tick could write the count back for good.
		_ = h.occupancy.Close()
		_ = h.liveness.Close()
		_ = h.presence.Close()
		err = h.bus.Close()
		close(h.done)
	})
	return err
}

// Sweep drops expired cache entries; the engine calls it now and then.
func (h *Hub) Sweep(now time.Time) {
	if s, ok := h.cache.(interface{ Sweep(time.Time) }); ok {
		s.Sweep(now)
	}
}

func (h *Hub) now() time.Time {
	if h.opts.Clock != nil {
		return h.opts.Clock()
	}
	return time.Now()
}

// logging reports whether logf prints: callers on the subscribe path check
// it first, since building the arguments (the socket id, the boxing) leaves
// garbage behind for every subscription even when nothing is printed.
func (h *Hub) logging() bool { return h.opts.Logf != nil }

func (h *Hub) logf(format string, args ...any) {
	if h.opts.Logf != nil {
		h.opts.Logf(format, args...)
	}
}

func randomUint64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("hub: no randomness: " + err.Error())
	}
	return binary.LittleEndian.Uint64(b[:])
}
