package webhook

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/redis/rueidis"
)

// RedisStore is Store shared by the nodes of a cluster. Due events are
// entries of one Redis stream read through a consumer group: a node takes
// entries, delivers them and then acknowledges and deletes them; entries a
// node took and then went quiet on (it died) are claimed by another node
// after ClaimAfter. Held removals are a sorted set by due time, which a
// script moves to the stream once due, so whichever node runs it first
// queues each of them exactly once; an addition cancels a held removal in
// the same script that would have queued it, on any node. One node at a
// time (the holder of a lease) reads the stream, so an app's events are
// sent in the order they happened; the others stand by to take over.
type RedisStore struct {
	client   rueidis.Client
	release  func()
	consumer string
	cap      int
	// claimAfter is how long an entry must sit unacknowledged before
	// another node takes it over; it exceeds one POST's timeout and the
	// longest backoff, because the owner renews its entries before each
	// retry.
	claimAfter time.Duration
	onDrop     func(n int)

	stream, held, heldEvents, group, lease string

	mu        sync.Mutex
	grouped   bool
	lastClaim time.Time
	// taken is the entries this node took and has not acknowledged yet,
	// waiting for a worker or being sent. The keeper renews all of them,
	// and claim never takes them again: a batch queued behind one being
	// retried is as much this node's as the one being retried.
	taken map[string]struct{}
	// leaseUntil is when this node's sender lease lapses by its own clock
	// (zero when it does not hold it).
	leaseUntil time.Time

	keeperOnce, closeOnce sync.Once
	stop                  chan struct{}
	stopped               chan struct{}
}

// ErrLeaseLost says another node sends now: what this node took and has
// not sent is left to it.
var ErrLeaseLost = errors.New("webhooks: this node no longer holds the sender lease")

// NewRedisStore shares the queue under prefix; consumer names this node.
func NewRedisStore(client rueidis.Client, prefix, consumer string, capacity int, claimAfter time.Duration, release func(), onDrop func(int)) *RedisStore {
	if onDrop == nil {
		onDrop = func(int) {}
	}
	if release == nil {
		release = func() {}
	}
	b := Base(prefix)
	return &RedisStore{client: client, release: release, consumer: consumer, cap: capacity, claimAfter: claimAfter, onDrop: onDrop,
		stream: b + ":queue", held: b + ":held", heldEvents: b + ":held-events", group: "senders", lease: b + ":sender",
		taken: map[string]struct{}{}, stop: make(chan struct{}), stopped: make(chan struct{})}
}

// redisNowMs is Redis's clock in milliseconds: every node holds removals by
// the same clock.
const redisNowMs = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// addScript: KEYS stream, held, held events; ARGV delay ms, capacity, then
// (mode, key, event JSON) triples, mode "q" queue, "h" hold (a removal),
// "a" an addition that cancels a held removal of its key (see ScriptLua).
// Returns how many old entries were trimmed to keep the capacity.
var addScript = rueidis.NewLuaScript(ScriptLua + `
local W = wh_new(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
for i = 3, #ARGV, 3 do wh_put(W, ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
return wh_trim(W)
`)

// promoteScript queues held removals that are due: KEYS stream, held, held
// events; ARGV limit.
var promoteScript = rueidis.NewLuaScript(redisNowMs + `
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now * 1000 + 999, 'LIMIT', 0, tonumber(ARGV[1]))
for _, key in ipairs(due) do
  local js = redis.call('HGET', KEYS[3], key)
  redis.call('ZREM', KEYS[2], key)
  redis.call('HDEL', KEYS[3], key)
  if js then redis.call('XADD', KEYS[1], '*', 'e', js) end
end
return #due
`)

// leaseScript takes or renews the sender lease: KEYS lease; ARGV node, ms.
var leaseScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseScript gives the lease up if this node holds it: KEYS lease; ARGV node.
var releaseScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// leaseFor is how long the sender lease outlives its holder; the keeper
// renews it several times within, whether or not anything is taken.
const leaseFor = 3 * time.Second

// leaseMargin is how long before the lease lapses in Redis this node stops
// counting on it, for the time a renewal takes to travel.
const leaseMargin = leaseFor / 6

// renewLease takes or renews the lease and says whether this node holds it.
func (s *RedisStore) renewLease(ctx context.Context) (bool, error) {
	asked := time.Now()
	held, err := leaseScript.Exec(ctx, s.client, []string{s.lease}, []string{s.consumer, strconv.Itoa(int(leaseFor.Milliseconds()))}).AsInt64()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		// Unknown: the lease lapses on its own at leaseUntil.
	case held == 1:
		s.leaseUntil = asked.Add(leaseFor - leaseMargin)
	default:
		s.leaseUntil = time.Time{}
	}
	return err == nil && held == 1, err
}

// holding says whether this node still holds the lease by its own clock.
func (s *RedisStore) holding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.leaseUntil)
}

// keeper renews the lease and the entries taken on its own ticker, so a
// long retry or a Take loop stuck behind busy workers loses neither. Once
// the lease is lost it stops renewing the entries: their new owner claims
// them after claimAfter.
func (s *RedisStore) keeper() {
	defer close(s.stopped)
	every := max(min(leaseFor/3, s.claimAfter/3), 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		if s.holding() {
			_, _ = s.renewLease(ctx)
		}
		s.mu.Lock()
		// Without the lease the entries are not renewed, but they stay in
		// taken: their batches are still queued here, and taken is what
		// keeps claim from handing them to this node a second time. A batch
		// leaves taken when it is acknowledged, or when Keep finds the lease
		// gone and the batch is left to the new holder.
		held := time.Now().Before(s.leaseUntil)
		var id []string
		if held {
			id = make([]string, 0, len(s.taken))
			for k := range s.taken {
				id = append(id, k)
			}
		}
		s.mu.Unlock()
		if len(id) > 0 {
			_ = s.client.Do(ctx, s.client.B().Xclaim().Key(s.stream).Group(s.group).Consumer(s.consumer).MinIdleTime("0").Id(id...).Justid().Build()).Error()
		}
		cancel()
	}
}

// forget drops entries from taken: acknowledged, or left to another node.
func (s *RedisStore) forget(entries []Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		delete(s.taken, e.ID)
	}
}

// remember notes entries as taken and drops those this node already has.
func (s *RedisStore) remember(list []Entry) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := list[:0]
	for _, e := range list {
		if _, dup := s.taken[e.ID]; dup {
			continue
		}
		s.taken[e.ID] = struct{}{}
		out = append(out, e)
	}
	return out
}

func (s *RedisStore) Add(ctx context.Context, events []Event, delay time.Duration) error {
	args := make([]string, 0, 2+3*len(events))
	args = append(args, strconv.Itoa(int(delay/time.Millisecond)), strconv.Itoa(s.cap))
	for _, ev := range events {
		js, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		key, removal := ev.holdKey()
		mode := "q"
		switch {
		case key != "" && removal:
			mode = "h"
		case key != "":
			mode = "a"
		}
		args = append(args, mode, key, string(js))
	}
	dropped, err := addScript.Exec(ctx, s.client, []string{s.stream, s.held, s.heldEvents}, args).AsInt64()
	if err != nil {
		return err
	}
	if dropped > 0 {
		s.onDrop(int(dropped))
	}
	return nil
}

// ScriptTarget is where the shared-state scripts queue the cluster events
// they find, with removals held for delay.
func (s *RedisStore) ScriptTarget(delay time.Duration) ScriptTarget {
	return ScriptTarget{Base: strings.TrimSuffix(s.stream, ":queue"), DelayMs: int(delay / time.Millisecond), Cap: s.cap, Dropped: s.onDrop}
}

// ensureGroup creates the consumer group once (again after Redis lost it).
func (s *RedisStore) ensureGroup(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grouped {
		return nil
	}
	err := s.client.Do(ctx, s.client.B().XgroupCreate().Key(s.stream).Group(s.group).Id("0").Mkstream().Build()).Error()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	s.grouped = true
	return nil
}

func (s *RedisStore) forgetGroup(err error) {
	if err != nil && strings.Contains(err.Error(), "NOGROUP") {
		s.mu.Lock()
		s.grouped = false
		s.mu.Unlock()
	}
}

func (s *RedisStore) Take(ctx context.Context, limit int, wait time.Duration) ([]Entry, error) {
	s.keeperOnce.Do(func() { go s.keeper() })
	held, err := s.renewLease(ctx)
	if err != nil {
		return nil, err
	}
	if !held {
		// Another node sends; this one waits to take over.
		t := time.NewTimer(min(wait, leaseFor/3))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		return nil, nil
	}
	if err := s.ensureGroup(ctx); err != nil {
		return nil, err
	}
	if err := promoteScript.Exec(ctx, s.client, []string{s.stream, s.held, s.heldEvents}, []string{"100"}).Error(); err != nil {
		return nil, err
	}
	if out, err := s.claim(ctx, limit); err != nil || len(out) > 0 {
		return s.remember(out), err
	}
	// Held removals fall due while we block: a short block lets the next
	// call promote them on time.
	block := min(wait, 200*time.Millisecond)
	res, err := s.client.Do(ctx, s.client.B().Xreadgroup().Group(s.group, s.consumer).Count(int64(limit)).
		Block(max(block.Milliseconds(), 1)).Streams().Key(s.stream).Id(">").Build()).AsXRead()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	if err != nil {
		s.forgetGroup(err)
		return nil, err
	}
	return s.remember(entries(res[s.stream])), nil
}

// claim takes over entries another node took and went quiet on; it looks
// once a second.
func (s *RedisStore) claim(ctx context.Context, max int) ([]Entry, error) {
	s.mu.Lock()
	if time.Since(s.lastClaim) < time.Second {
		s.mu.Unlock()
		return nil, nil
	}
	s.lastClaim = time.Now()
	s.mu.Unlock()
	res, err := s.client.Do(ctx, s.client.B().Xautoclaim().Key(s.stream).Group(s.group).Consumer(s.consumer).
		MinIdleTime(strconv.Itoa(int(s.claimAfter.Milliseconds()))).Start("0-0").Count(int64(max)).Build()).ToArray()
	if err != nil {
		s.forgetGroup(err)
		return nil, err
	}
	if len(res) < 2 {
		return nil, nil
	}
	list, err := res[1].AsXRange()
	if err != nil {
		return nil, err
	}
	return entries(list), nil
}

func entries(list []rueidis.XRangeEntry) []Entry {
	out := make([]Entry, 0, len(list))
	for _, x := range list {
		var ev Event
		if json.Unmarshal([]byte(x.FieldValues["e"]), &ev) != nil {
			continue
		}
		out = append(out, Entry{ID: x.ID, Event: ev})
	}
	return out
}

func ids(entries []Entry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.ID != "" {
			out = append(out, e.ID)
		}
	}
	return out
}

// Keep resets the entries' idle time so no other node claims them, or
// says ErrLeaseLost when another node took over sending.
func (s *RedisStore) Keep(ctx context.Context, entries []Entry) error {
	if !s.holding() {
		// The caller drops the batch: once idle for claimAfter it is the
		// lease holder's to claim, this node's too should it hold it again.
		s.forget(entries)
		return ErrLeaseLost
	}
	id := ids(entries)
	if len(id) == 0 {
		return nil
	}
	return s.client.Do(ctx, s.client.B().Xclaim().Key(s.stream).Group(s.group).Consumer(s.consumer).MinIdleTime("0").Id(id...).Justid().Build()).Error()
}

func (s *RedisStore) Done(ctx context.Context, entries []Entry) error {
	id := ids(entries)
	if len(id) == 0 {
		return nil
	}
	// Should the ack fail, the entry is no longer kept and is sent again
	// after claimAfter rather than held forever.
	s.forget(entries)
	res := s.client.DoMulti(ctx,
		s.client.B().Xack().Key(s.stream).Group(s.group).Id(id...).Build(),
		s.client.B().Xdel().Key(s.stream).Id(id...).Build())
	for _, r := range res {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

func (s *RedisStore) Close() error {
	first := false
	s.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	s.keeperOnce.Do(func() { close(s.stopped) })
	close(s.stop)
	<-s.stopped
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = releaseScript.Exec(ctx, s.client, []string{s.lease}, []string{s.consumer}).Error()
	s.release()
	return nil
}
