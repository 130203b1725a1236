package hub

import (
	"hash/maphash"
	"sync"
)

// workers run the shared-state work of subscriptions off the event loops.
// Work is sharded by channel onto a few goroutines: the joins and leaves of
// one channel stay in order, while different channels run concurrently (and
// a Redis client pipelines their round trips together).
type workers struct {
	seed   maphash.Seed
	shards []*shard
	wg     sync.WaitGroup
}

// shard is one ordered worker and the shares of the channels it owns.
type shard struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []func(*shard)
	closed  bool
	pending int // joins queued, bounded by maxQueuedJoins

	// run is held while work runs, so work done in place (now) and queued
	// work never touch the shares at once.
	run    sync.Mutex
	shares map[chanKey]*share
	// scratch is the share work done in place writes to (see now).
	scratch share
}

// share is this node's part of one channel's shared state as it should be
// in the shared store: every join and leave changes it in order, whether or
// not the store was reachable, so a resync can register it exactly.
type share struct {
	subscriptions int
	members       map[string]*LocalMember // presence only
	// dirty: a change may not have reached the store.
	dirty bool
}

// maxQueuedJoins bounds the joins waiting on one shard; past it a subscribe
// is refused (the client may retry). Leaves are always queued: dropping one
// would leave a member behind.
const maxQueuedJoins = 16384

func newWorkers(n int) *workers {
	w := &workers{seed: maphash.MakeSeed(), shards: make([]*shard, n)}
	for i := range w.shards {
		sh := &shard{shares: map[chanKey]*share{}}
		sh.cond = sync.NewCond(&sh.mu)
		w.shards[i] = sh
		w.wg.Add(1)
		go w.loop(sh)
	}
	return w
}

func (w *workers) shardOf(app, channel string) *shard {
	var h maphash.Hash
	h.SetSeed(w.seed)
	h.WriteString(app)
	h.WriteByte(0)
	h.WriteString(channel)
	return w.shards[h.Sum64()%uint64(len(w.shards))]
}

// join queues fn on the channel's shard unless too many joins wait there.
func (w *workers) join(app, channel string, fn func(*share)) bool {
	return w.shardOf(app, channel).push(chanKey{app, channel}, fn, true)
}

// leave queues fn on the channel's shard.
func (w *workers) leave(app, channel string, fn func(*share)) {
	w.shardOf(app, channel).push(chanKey{app, channel}, fn, false)
}

// now runs fn at once in the caller's goroutine, for shared state that
// never blocks. Such state is changed in the same call and cannot miss a
// change, so it is always exactly what a share would record: no share is
// kept (a record per channel would cost ~130 bytes each), and fn writes to
// a scratch one. The shard's lock keeps the scratch share to one caller.
func (w *workers) now(app, channel string, fn func(*share)) {
	sh := w.shardOf(app, channel)
	sh.run.Lock()
	defer sh.run.Unlock()
	fn(&sh.scratch)
	clear(sh.scratch.members)
	sh.scratch.subscriptions, sh.scratch.dirty = 0, false
}

// each runs fn on every shard, in order with what is queued there, and
// waits for all of them.
func (w *workers) each(fn func(*shard)) {
	var done sync.WaitGroup
	for _, sh := range w.shards {
		done.Add(1)
		if !sh.enqueue(func(sh *shard) { defer done.Done(); fn(sh) }, false) {
			done.Done() // closed: nothing runs there any more
		}
	}
	done.Wait()
}

func (sh *shard) push(k chanKey, fn func(*share), isJoin bool) bool {
	return sh.enqueue(func(sh *shard) {
		s := sh.shares[k]
		if s == nil {
			s = &share{}
			sh.shares[k] = s
		}
		fn(s)
		if s.subscriptions <= 0 && len(s.members) == 0 && !s.dirty {
			delete(sh.shares, k)
		}
	}, isJoin)
}

func (sh *shard) enqueue(fn func(*shard), isJoin bool) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false
	}
	if isJoin {
		if sh.pending >= maxQueuedJoins {
			return false
		}
		sh.pending++
		inner := fn
		fn = func(sh *shard) {
			sh.mu.Lock()
			sh.pending--
			sh.mu.Unlock()
			inner(sh)
		}
	}
	sh.queue = append(sh.queue, fn)
	sh.cond.Signal()
	return true
}

func (w *workers) loop(sh *shard) {
	defer w.wg.Done()
	for {
		sh.mu.Lock()
		for len(sh.queue) == 0 && !sh.closed {
			sh.cond.Wait()
		}
		if len(sh.queue) == 0 {
			sh.mu.Unlock()
			return
		}
		batch := sh.queue
		sh.queue = nil
		sh.mu.Unlock()
		sh.run.Lock()
		for _, fn := range batch {
			fn(sh)
		}
		sh.run.Unlock()
	}
}

// close runs what is queued, then stops.
func (w *workers) close() {
	for _, sh := range w.shards {
		sh.mu.Lock()
		sh.closed = true
		sh.cond.Signal()
		sh.mu.Unlock()
	}
	w.wg.Wait()
}
