package hub

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"
	"github.com/resound/resound/internal/ratelog"
)

// RedisBus is the Bus of a cluster: one Redis stream per app. A publish is
// one XADD (every event of an API call in one entry, so it is all or
// nothing); every node reads every stream with XREAD from the last entry it
// delivered, so a node whose connection dropped resumes where it stopped
// instead of losing what was published meanwhile (pub/sub keeps nothing).
type RedisBus struct {
	client rueidis.Client
	prefix string
	apps   []string
	// timeout bounds PublishWait (and a queued publish's time in Redis).
	timeout time.Duration
	// maxLen trims each stream (approximately): how far a node that lost
	// its connection can fall behind and still catch up.
	maxLen string

	node    string
	deliver func(Message)
	// onDown is told when Redis fails, so the cluster can resync presence.
	onDown func()

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	outbox chan Message
	// closed stops deliveries at once; the reader itself may sit in XREAD
	// until its block ends, and Close does not wait for it.
	closed atomic.Bool

	// offset is Redis's clock minus ours in ms, from the last TIME sample,
	// so a publish deadline can be checked by Redis itself.
	offset     atomic.Int64
	offsetRTT  atomic.Int64 // ns; the round trip of that sample
	offsetSeen atomic.Bool
	log        *ratelog.Logger
}

// Defaults of the bus settings in RedisConfig.
const (
	defaultPublishTimeout = 2 * time.Second
	defaultStreamLength   = 10000
)

// NewRedisBus returns the bus of a cluster over client; it does not own the
// client.
func NewRedisBus(client rueidis.Client, cfg RedisConfig, appIDs []string) *RedisBus {
	if cfg.Prefix == "" {
		cfg.Prefix = "resound"
	}
	timeout := time.Duration(cfg.PublishTimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultPublishTimeout
	}
	maxLen := cfg.StreamLength
	if maxLen <= 0 {
		maxLen = defaultStreamLength
	}
	return &RedisBus{client: client, prefix: cfg.Prefix, apps: appIDs, timeout: timeout,
		maxLen: strconv.Itoa(maxLen), outbox: make(chan Message, 65536), log: ratelog.New(log.Default(), time.Second)}
}

func (b *RedisBus) stream(app string) string { return b.prefix + ":" + app + ":stream" }

// publishScript appends one entry unless Redis's own clock is past the
// deadline (ms, Redis time; 0 for none). A publish that waited in a hung
// Redis's socket buffer past the moment its caller gave up is dropped here,
// so an event answered 503 is delivered nowhere, even late. KEYS[2..] are
// the cache keys of the entry's cached events, with their TTL (ms) and
// "<position in the entry> <payload>" in ARGV[2i] and ARGV[2i+1]: each gets
// "<entry id>.<position> <payload>" in the same step, so the cache holds the
// last event in stream order, and nothing answered 503.
var publishScript = rueidis.NewLuaScript(`
if ARGV[1] ~= '0' then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then
    return false
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'm', ARGV[3])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], id .. '.' .. ARGV[2 * i + 1], 'PX', ARGV[2 * i])
end
return id
`)

// publishArgs are publishScript's keys and arguments for one entry.
func (b *RedisBus) publishArgs(msgs []Message, deadline time.Time) ([]string, []string, error) {
	body, err := encodeEntry(msgs)
	if err != nil {
		return nil, nil, err
	}
	keys := []string{b.stream(msgs[0].AppID)}
	args := []string{b.redisDeadline(deadline), b.maxLen, body}
	for i, m := range msgs {
		if m.Cached && m.CacheTTL > 0 {
			keys = append(keys, redisCacheKey(b.prefix, m.AppID, m.Channel))
			args = append(args, strconv.FormatInt(m.CacheTTL.Milliseconds(), 10), strconv.Itoa(i)+" "+string(m.Payload))
		}
	}
	return keys, args, nil
}

// errExpired: Redis ran the publish after its deadline and dropped it.
var errExpired = errors.New("Redis was too slow: the event was dropped, not delivered")

// Start reads every app's stream from its current end and starts the
// background work.
func (b *RedisBus) Start(node string, deliver func(Message)) error {
	b.node, b.deliver = node, deliver
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.sampleClock()
	ids := make([]string, len(b.apps))
	for i, app := range b.apps {
		ids[i] = "0-0"
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		entries, err := b.client.Do(ctx, b.client.B().Xrevrange().Key(b.stream(app)).End("+").Start("-").Count(1).Build()).AsXRange()
		cancel()
		if err != nil {
			return fmt.Errorf("scaling: reading the end of the event stream of app %s: %w", app, err)
		}
		if len(entries) > 0 {
			ids[i] = entries[0].ID
		}
	}
	b.wg.Add(2)
	go b.read(ids)
	go b.publishLoop()
	go b.clockLoop()
	return nil
}

// PublishWait appends msgs as one entry of their app's stream (they share
// one app) and returns once Redis has it: every node then delivers them.
func (b *RedisBus) PublishWait(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if b.ctx == nil || b.ctx.Err() != nil {
		return errBusClosed
	}
	err := b.append(ctx, msgs)
	if err != nil {
		countRedisError(RedisBusPublish)
	}
	switch {
	case errors.Is(err, ErrUnconfirmed):
		b.log.Printf("publish-unconfirmed", "scaling: publish to app %s not confirmed (%v): answered 504; it is delivered once if Redis took it just before its answer was lost, else nowhere", msgs[0].AppID, err)
	case err != nil:
		b.log.Printf("publish", "scaling: publish to app %s failed, answered 503 and delivered nowhere: %v", msgs[0].AppID, err)
	}
	return err
}

func (b *RedisBus) append(ctx context.Context, msgs []Message) error {
	deadline := time.Now().Add(b.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	keys, args, err := b.publishArgs(msgs, deadline)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	res := publishScript.Exec(ctx, b.client, keys, args)
	if err := res.Error(); err != nil {
		var redisErr *rueidis.RedisError
		switch {
		case rueidis.IsRedisNil(err):
			return errExpired
		case errors.As(err, &redisErr), neverSent(err):
			// Redis refused the script, or never saw it.
			return err
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("%w: Redis did not answer within publish_timeout_ms; it drops the event if it runs it later than that", ErrUnconfirmed)
		default:
			return fmt.Errorf("%w: %v", ErrUnconfirmed, err)
		}
	}
	return nil
}

// redisDeadline is the last moment, in Redis's clock, at which Redis may
// still take a publish whose caller waits until deadline. It leaves the
// reply a margin to travel back (and covers the error of the clock offset,
// at most half a sample's round trip); a Redis that stalls after taking the
// event for longer than that margin is the window left: the caller answers
// 503 for an event that is delivered.
func (b *RedisBus) redisDeadline(deadline time.Time) string {
	if !b.offsetSeen.Load() {
		return "0"
	}
	margin := b.timeout / 4
	if margin > 500*time.Millisecond {
		margin = 500 * time.Millisecond
	}
	margin += time.Duration(b.offsetRTT.Load())
	return strconv.FormatInt(deadline.Add(-margin).UnixMilli()+b.offset.Load(), 10)
}

// sampleClock measures Redis's clock against ours; a sample with a slow
// round trip only replaces a slower one, since its error is half of it.
func (b *RedisBus) sampleClock() {
	ctx, cancel := context.WithTimeout(b.ctx, time.Second)
	defer cancel()
	before := time.Now()
	t, err := b.client.Do(ctx, b.client.B().Time().Build()).AsStrSlice()
	after := time.Now()
	if err != nil || len(t) != 2 {
		return
	}
	sec, err1 := strconv.ParseInt(t[0], 10, 64)
	usec, err2 := strconv.ParseInt(t[1], 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	rtt := after.Sub(before)
	if b.offsetSeen.Load() && rtt > 50*time.Millisecond && rtt.Nanoseconds() > b.offsetRTT.Load() {
		return
	}
	mid := before.Add(rtt / 2)
	b.offset.Store(sec*1000 + usec/1000 - mid.UnixMilli())
	b.offsetRTT.Store(rtt.Nanoseconds())
	b.offsetSeen.Store(true)
}

func (b *RedisBus) clockLoop() {
	defer b.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			b.sampleClock()
		}
	}
}

// Publish queues m for every node without blocking.
func (b *RedisBus) Publish(m Message) error {
	if b.ctx == nil || b.ctx.Err() != nil {
		return errBusClosed
	}
	select {
	case b.outbox <- m:
		return nil
	default:
		countRedisError(RedisBusQueue)
		b.log.Printf("backlog", "scaling: bus backlog is full (Redis is too slow or down): a client event or presence update was dropped")
		return errors.New("scaling bus backlog is full: Redis is too slow or down")
	}
}

// publishLoop sends queued messages in order, as many per round trip as
// have piled up.
func (b *RedisBus) publishLoop() {
	defer b.wg.Done()
	batch := make([]Message, 0, 256)
	execs := make([]rueidis.LuaExec, 0, 256)
	for {
		select {
		case <-b.ctx.Done():
			return
		case m := <-b.outbox:
			batch = append(batch[:0], m)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case m := <-b.outbox:
				batch = append(batch, m)
			default:
				break more
			}
		}
		deadline := time.Now().Add(b.timeout)
		execs = execs[:0]
		for _, m := range batch {
			keys, args, _ := b.publishArgs([]Message{m}, deadline)
			execs = append(execs, rueidis.LuaExec{Keys: keys, Args: args})
		}
		ctx, cancel := context.WithDeadline(b.ctx, deadline)
		results := publishScript.ExecMulti(ctx, b.client, execs...)
		cancel()
		for i, r := range results {
			err := r.Error()
			switch {
			case err == nil:
			case rueidis.IsRedisNil(err), errors.Is(err, context.DeadlineExceeded):
				// Redis may still take it (a timeout) or dropped it: either
				// way, delivering it here too could send it twice.
				countRedisError(RedisBusQueue)
				b.log.Printf("queued-timeout", "scaling: publish to app %s timed out; a client event or presence update on %q may be lost", batch[i].AppID, batch[i].Channel)
			case b.ctx.Err() != nil:
				return
			case neverSent(err):
				// Redis is down and never saw it: at least this node's own
				// sockets get it. The reader is failing too, so this does
				// not interleave with its deliveries.
				b.down(err)
				if !b.closed.Load() {
					b.deliver(batch[i])
				}
			default:
				// The connection broke with the script possibly run: the
				// reader may yet deliver it, so delivering it here could
				// send it twice.
				b.down(err)
				countRedisError(RedisBusQueue)
				b.log.Printf("queued-lost", "scaling: publish to app %s failed (%v); a client event or presence update on %q may be lost", batch[i].AppID, err, batch[i].Channel)
			}
		}
	}
}

func (b *RedisBus) down(err error) {
	b.log.Printf("down", "scaling: Redis unavailable for the bus: %v", err)
	if b.onDown != nil {
		b.onDown()
	}
}

// read delivers every stream's entries after ids, forever; after a failure
// it resumes from the last entry delivered, so nothing is skipped.
func (b *RedisBus) read(ids []string) {
	keys := make([]string, len(b.apps))
	index := make(map[string]int, len(b.apps))
	for i, app := range b.apps {
		keys[i] = b.stream(app)
		index[keys[i]] = i
	}
	const block = 2 * time.Second
	backoff := 50 * time.Millisecond
	for b.ctx.Err() == nil {
		// The deadline aborts a read from a Redis that hangs, so the node
		// reconnects once it answers again.
		ctx, cancel := context.WithTimeout(b.ctx, block+3*time.Second)
		res, err := b.client.Do(ctx, b.client.B().Xread().Count(1000).Block(block.Milliseconds()).Streams().Key(keys...).Id(ids...).Build()).AsXRead()
		cancel()
		if b.ctx.Err() != nil {
			return
		}
		if err != nil && !rueidis.IsRedisNil(err) {
			countRedisError(RedisBusRead)
			b.log.Printf("read", "scaling: reading the bus from Redis failed (%v); resuming from the last event delivered", err)
			b.down(err)
			sleepCtx(b.ctx, backoff)
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		for key, entries := range res {
			i, ok := index[key]
			if !ok {
				continue
			}
			for _, e := range entries {
				ids[i] = e.ID
				order, _ := parseOrder(e.ID)
				b.deliverEntry(e.FieldValues["m"], order)
			}
		}
	}
}

func (b *RedisBus) deliverEntry(body string, order Order) {
	msgs, err := decodeEntry(body)
	if err != nil {
		b.log.Printf("decode", "scaling: undecodable bus entry skipped: %v", err)
		return
	}
	for i, m := range msgs {
		if b.closed.Load() {
			return
		}
		order.Pos = uint32(i)
		m.Order = order
		b.deliver(m)
	}
}

// neverSent says whether a publish error proves the command never reached
// Redis: no connection could be made (refused, unreachable, dial timeout)
// or the client is closing. Any other failure may have come after Redis ran
// the script.
func neverSent(err error) bool {
	if errors.Is(err, rueidis.ErrClosing) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Close stops reading and publishing; queued messages get a moment to go.
func (b *RedisBus) Close() error {
	if b.cancel == nil {
		return nil
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(b.outbox) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.closed.Store(true)
	b.cancel()
	b.wg.Wait()
	return nil
}
