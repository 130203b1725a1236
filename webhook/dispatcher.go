package webhook

import (
	"context"
	"errors"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resound/resound/internal/ratelog"
)

// Options tune delivery; zero fields take the defaults in WithDefaults.
type Options struct {
	// Delay holds member_removed and channel_vacated so a page reload
	// (leave, then join again within it) sends neither leave nor join (3 s;
	// negative: none).
	Delay time.Duration
	// BatchSize is the most events one POST carries (50).
	BatchSize int
	// BatchWait is how long the first event of a batch waits for more (100 ms).
	BatchWait time.Duration
	// Workers is how many POSTs may be in flight at once (8). Each app's
	// batches go out one at a time, in order; an app whose receiver fails
	// holds a worker only while a POST is in flight, not while it backs off.
	Workers int
	// QueueSize bounds the events waiting to be stored, and those of one
	// app taken and waiting to be sent (10000); past it the oldest is
	// dropped.
	QueueSize int
	// Timeout bounds one POST (5 s).
	Timeout time.Duration
	// RetryFor is how long a batch is retried before it is given up (60 s).
	RetryFor time.Duration
	// RetryMin and RetryMax bound the exponential backoff (200 ms, 5 s).
	RetryMin, RetryMax time.Duration
	Logger             *log.Logger
}

// hold is how long removals wait: Delay, or nothing when it is negative.
func (o Options) hold() time.Duration { return max(o.Delay, 0) }

// WithDefaults fills zero fields. Applying it again changes nothing: a
// negative Delay stays negative ("none"), where 0 would become the default.
func (o Options) WithDefaults() Options {
	if o.Delay == 0 {
		o.Delay = 3 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 50
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 100 * time.Millisecond
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.RetryFor <= 0 {
		o.RetryFor = 60 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 200 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(5*time.Second, o.RetryMin)
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
	return o
}

// App is what delivery needs of an app.
type App struct {
	ID, Key, Secret string
	Hooks           []Config
}

// Stats counts deliveries since start. Sent, Retried and Failed count
// POSTs; Dropped counts events.
type Stats struct {
	Sent    uint64 `json:"sent"`
	Retried uint64 `json:"retried"`
	Failed  uint64 `json:"failed"`
	Dropped uint64 `json:"dropped"`
}

// Dispatcher takes events from the event loops without ever blocking them
// and delivers them from its own goroutines.
type Dispatcher struct {
	opts  Options
	apps  map[string]*appHooks
	store Store
	rlog  *ratelog.Logger
	send  *sender

	mu    sync.Mutex
	inbox []Event
	// storing is how many events taken from the inbox are being stored.
	storing int
	wake    chan struct{}

	sent, retried, failed, dropped atomic.Uint64
	// inflight counts batches handed to workers and not yet finished.
	inflight atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// posting bounds the POSTs in flight to Workers.
	posting chan struct{}

	qmu sync.Mutex
	// queues holds each app's batches taken and not yet sent: taking never
	// waits for a slow app, and one goroutine per app sends them in order.
	queues map[string]*appQueue
}

type appQueue struct {
	jobs    []job
	events  int
	running bool
}

type appHooks struct {
	App
	wants Mask
}

type job struct {
	app     *appHooks
	entries []Entry
}

// New builds a dispatcher for the apps that have webhooks; Start runs it.
func New(apps []App, store Store, opts Options) *Dispatcher {
	opts = opts.WithDefaults()
	d := &Dispatcher{opts: opts, apps: map[string]*appHooks{}, store: store, wake: make(chan struct{}, 1),
		posting: make(chan struct{}, opts.Workers), queues: map[string]*appQueue{}}
	d.rlog = ratelog.New(opts.Logger, 10*time.Second)
	for _, a := range apps {
		if len(a.Hooks) > 0 {
			d.apps[a.ID] = &appHooks{App: a, wants: Wanted(a.Hooks)}
		}
	}
	d.send = newSender(opts, d)
	return d
}

// Wants says whether any webhook of the app takes events of this name; the
// hub asks before it builds one.
func (d *Dispatcher) Wants(app, name string) bool {
	if d == nil {
		return false
	}
	a := d.apps[app]
	return a != nil && a.wants.Has(name)
}

// ScriptTarget says where Redis scripts queue the events of cluster-wide
// changes themselves (occupied, vacated, member added and removed), in the
// same execution as the change; false when the store is not in Redis and
// those events come through Emit.
func (d *Dispatcher) ScriptTarget() (ScriptTarget, bool) {
	if d == nil {
		return ScriptTarget{}, false
	}
	rs, ok := d.store.(*RedisStore)
	if !ok {
		return ScriptTarget{}, false
	}
	return rs.ScriptTarget(d.opts.hold()), true
}

// Emit queues an event; it never blocks. A full queue drops its oldest.
func (d *Dispatcher) Emit(ev Event) {
	d.mu.Lock()
	full := len(d.inbox) >= d.opts.QueueSize
	if full {
		d.inbox = d.inbox[1:]
	}
	d.inbox = append(d.inbox, ev)
	d.mu.Unlock()
	if full {
		d.Dropped(1)
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Dropped counts events lost to a full queue, with a rate-limited log line.
func (d *Dispatcher) Dropped(n int) {
	total := d.dropped.Add(uint64(n))
	d.rlog.Printf("webhook-drop", "webhooks: queue full (webhooks.queue_size %d): dropped the oldest event (%d dropped so far); the receiver is slow or down, or raise queue_size", d.opts.QueueSize, total)
}

// Stats is a snapshot of the counters.
func (d *Dispatcher) Stats() Stats {
	if d == nil {
		return Stats{}
	}
	return Stats{Sent: d.sent.Load(), Retried: d.retried.Load(), Failed: d.failed.Load(), Dropped: d.dropped.Load()}
}

// Start runs the goroutines that store, batch and send.
func (d *Dispatcher) Start() {
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(2)
	go d.storeLoop()
	go d.takeLoop()
}

// Close stops delivery. It first gives what is queued up to Delay +
// Timeout to go out (the last sockets' leaves happen during a drain);
// then batches not yet delivered stay in a shared store for another
// node, and a memory store loses them.
func (d *Dispatcher) Close() {
	if d.cancel == nil {
		return
	}
	for deadline := time.Now().Add(d.opts.hold() + d.opts.Timeout); time.Now().Before(deadline); {
		d.mu.Lock()
		waiting := len(d.inbox) + d.storing
		d.mu.Unlock()
		if waiting == 0 && d.inflight.Load() == 0 && storeIdle(d.store) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.cancel()
	d.wg.Wait()
	_ = d.store.Close()
	// Keep-alive connections to the receivers would otherwise linger for
	// the transport's idle timeout.
	d.send.client.CloseIdleConnections()
}

func (d *Dispatcher) storeLoop() {
	defer d.wg.Done()
	backoff := d.opts.RetryMin
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		}
		d.mu.Lock()
		evs := d.inbox
		d.inbox = nil
		d.storing = len(evs)
		d.mu.Unlock()
		if len(evs) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(d.ctx, d.opts.Timeout)
		err := d.store.Add(ctx, evs, d.opts.hold())
		cancel()
		if err == nil {
			backoff = d.opts.RetryMin
			d.mu.Lock()
			d.storing = 0
			d.mu.Unlock()
			continue
		}
		if d.ctx.Err() != nil {
			return
		}
		// The shared store failed (Redis is down): the events go back in
		// front of the queue, still bounded, and are stored again later.
		d.rlog.Printf("webhook-store", "webhooks: queueing %d events failed: %v; retrying in %v", len(evs), err, backoff)
		d.mu.Lock()
		d.inbox = append(evs, d.inbox...)
		d.storing = 0
		over := len(d.inbox) - d.opts.QueueSize
		if over > 0 {
			d.inbox = d.inbox[over:]
		}
		d.mu.Unlock()
		if over > 0 {
			d.Dropped(over)
		}
		if !sleepCtx(d.ctx, backoff) {
			return
		}
		backoff = min(backoff*2, d.opts.RetryMax)
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// takeLoop batches due events: the first waits up to BatchWait for others
// to share its POST.
func (d *Dispatcher) takeLoop() {
	defer d.wg.Done()
	for d.ctx.Err() == nil {
		batch, err := d.store.Take(d.ctx, d.opts.BatchSize, time.Second)
		if err != nil {
			if d.ctx.Err() == nil {
				d.rlog.Printf("webhook-take", "webhooks: reading the queue failed: %v", err)
				sleepCtx(d.ctx, time.Second)
			}
			continue
		}
		if len(batch) == 0 {
			continue
		}
		// Taken but not yet handed over: Close must still wait for it.
		d.inflight.Add(1)
		until := time.Now().Add(d.opts.BatchWait)
		for len(batch) < d.opts.BatchSize {
			left := time.Until(until)
			if left <= 0 {
				break
			}
			more, err := d.store.Take(d.ctx, d.opts.BatchSize-len(batch), left)
			if err != nil || len(more) == 0 {
				break
			}
			batch = append(batch, more...)
		}
		d.dispatch(batch)
		d.inflight.Add(-1)
	}
}

// dispatch splits a batch by app, keeping each app's order, and queues
// each part for the app's sender; it never waits.
func (d *Dispatcher) dispatch(batch []Entry) {
	var order []string
	parts := map[string][]Entry{}
	for _, e := range batch {
		if _, ok := parts[e.Event.App]; !ok {
			order = append(order, e.Event.App)
		}
		parts[e.Event.App] = append(parts[e.Event.App], e)
	}
	for _, id := range order {
		a := d.apps[id]
		if a == nil {
			_ = d.store.Done(d.ctx, parts[id])
			continue
		}
		d.enqueue(job{app: a, entries: parts[id]})
	}
}

// enqueue adds a batch to its app's queue, dropping the app's oldest past
// QueueSize events, and starts the app's sender if it is not running.
func (d *Dispatcher) enqueue(j job) {
	d.inflight.Add(1)
	d.qmu.Lock()
	q := d.queues[j.app.ID]
	if q == nil {
		q = &appQueue{}
		d.queues[j.app.ID] = q
	}
	q.jobs = append(q.jobs, j)
	q.events += len(j.entries)
	var dropped []job
	for q.events > d.opts.QueueSize && len(q.jobs) > 1 {
		dropped = append(dropped, q.jobs[0])
		q.events -= len(q.jobs[0].entries)
		q.jobs = q.jobs[1:]
	}
	start := !q.running
	q.running = true
	if start {
		d.wg.Add(1)
	}
	d.qmu.Unlock()
	for _, old := range dropped {
		_ = d.store.Done(d.ctx, old.entries)
		d.Dropped(len(old.entries))
		d.inflight.Add(-1)
	}
	if start {
		go d.sendApp(q)
	}
}

// sendApp delivers an app's queued batches one after another until none
// is left.
func (d *Dispatcher) sendApp(q *appQueue) {
	defer d.wg.Done()
	for {
		d.qmu.Lock()
		if len(q.jobs) == 0 || d.ctx.Err() != nil {
			q.running = false
			d.qmu.Unlock()
			return
		}
		j := q.jobs[0]
		q.jobs = q.jobs[1:]
		q.events -= len(j.entries)
		d.qmu.Unlock()
		d.deliver(j)
	}
}

// deliver POSTs one app's batch to each of its webhooks that wants any of
// it, then forgets the batch, unless delivery was stopped by Close or the
// batch belongs to another node now.
func (d *Dispatcher) deliver(j job) {
	defer d.inflight.Add(-1)
	if d.lostLease(j) {
		return
	}
	for _, hook := range j.app.Hooks {
		var evs []Event
		for _, e := range j.entries {
			if hook.Matches(e.Event) {
				evs = append(evs, e.Event)
			}
		}
		if len(evs) == 0 {
			continue
		}
		if !d.send.post(d.ctx, j.app, hook, evs, func() bool { return !d.lostLease(j) }) {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.Timeout)
	defer cancel()
	if err := d.store.Done(ctx, j.entries); err != nil {
		d.rlog.Printf("webhook-done", "webhooks: marking a batch delivered failed: %v; it may be sent again", err)
	}
}

// lostLease renews a batch and says whether another node sends now: the
// batch is then its to send, in order with what followed.
func (d *Dispatcher) lostLease(j job) bool {
	if errors.Is(d.store.Keep(d.ctx, j.entries), ErrLeaseLost) {
		d.rlog.Printf("webhook-lease", "webhooks: another node took over sending; leaving %d events to it", len(j.entries))
		return true
	}
	return false
}

// storeIdle says whether a store holds nothing a Close would lose: a
// shared store loses nothing.
func storeIdle(s Store) bool {
	if m, ok := s.(*MemoryStore); ok {
		return m.idle()
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
