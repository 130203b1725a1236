package hub

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/resound/resound/protocol"
	"github.com/resound/resound/webhook"
)

// RedisOccupancy is Occupancy shared over Redis: subscription counts change
// by one script per subscribe or unsubscribe (never a full snapshot), and
// socket counts are shared per node every connectionsEvery.
type RedisOccupancy struct {
	conn  *RedisConn
	apps  []string
	node  string
	hooks *scriptHooks

	local  func(app string) int
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	others map[string]int // app -> sockets on other nodes
}

// connectionsEvery is how often socket counts are shared; max_connections
// may be exceeded by what the other nodes accept within it.
const connectionsEvery = 250 * time.Millisecond

// NewRedisOccupancy shares the occupancy of the given apps over conn.
func NewRedisOccupancy(conn *RedisConn, appIDs []string) *RedisOccupancy {
	conn.acquire()
	return &RedisOccupancy{conn: conn, apps: appIDs, others: map[string]int{}}
}

func (o *RedisOccupancy) useHooks(h *scriptHooks) { o.hooks = h }

func (o *RedisOccupancy) appKey(app string) string { return o.conn.base(app) + ":subs" }
func (o *RedisOccupancy) nodeKey(app, node string) string {
	return o.conn.base(app) + ":node:" + node + ":subs"
}
func (o *RedisOccupancy) connsKey(app string) string { return o.conn.base(app) + ":conns" }

func (o *RedisOccupancy) Start(node string, local func(app string) int) error {
	o.node, o.local = node, local
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.done = make(chan struct{})
	go o.shareConnections()
	return nil
}

func (o *RedisOccupancy) shareConnections() {
	defer close(o.done)
	t := time.NewTicker(connectionsEvery)
	defer t.Stop()
	for {
		select {
		case <-o.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := o.conn.timeout(o.ctx)
		counts := map[string]int{}
		failed := false
		for _, app := range o.apps {
			key := o.connsKey(app)
			res := o.conn.client.DoMulti(ctx,
				o.conn.client.B().Hset().Key(key).FieldValue().FieldValue(o.node, strconv.Itoa(o.local(app))).Build(),
				o.conn.client.B().Hgetall().Key(key).Build())
			all, err := res[1].AsIntMap()
			if err != nil {
				failed = true
				break
			}
			for n, v := range all {
				if n != o.node {
					counts[app] += int(v)
				}
			}
		}
		cancel()
		if failed {
			continue // Redis is down: the other nodes count as last seen
		}
		o.mu.Lock()
		o.others = counts
		o.mu.Unlock()
	}
}

func (o *RedisOccupancy) Add(ctx context.Context, app, channel string, delta int) (int, error) {
	if err := o.conn.usable(); err != nil {
		return -1, err
	}
	ctx, cancel := o.conn.timeout(ctx)
	defer cancel()
	args := append([]string{channel, strconv.Itoa(delta), app}, o.hooks.args(app, channel)...)
	res, err := occupancyAddScript.Exec(ctx, o.conn.client, []string{o.appKey(app), o.nodeKey(app, o.node)}, args).AsIntSlice()
	if err == nil && len(res) < 2 {
		err = errors.New("subscription count: short reply")
	}
	if err != nil {
		o.conn.failed("subscription count", err)
		return -1, err
	}
	o.hooks.dropped(res[1])
	return int(res[0]), nil
}

func (o *RedisOccupancy) Sync(ctx context.Context, app, channel string, n int) error {
	ctx, cancel := o.conn.timeout(ctx)
	defer cancel()
	args := append([]string{channel, strconv.Itoa(n), app}, o.hooks.args(app, channel)...)
	dropped, err := occupancySyncScript.Exec(ctx, o.conn.client, []string{o.appKey(app), o.nodeKey(app, o.node)}, args).AsInt64()
	if err != nil {
		o.conn.failed("subscription count sync", err)
		return err
	}
	o.hooks.dropped(dropped)
	return nil
}

// Channels reads through rueidis's client-side cache after a fence (see
// RedisConn.fence): never stale, and a repeated query moves no data.
func (o *RedisOccupancy) Channels(ctx context.Context, app string) (map[string]int, error) {
	ctx, cancel := o.conn.timeout(ctx)
	defer cancel()
	if err := o.conn.fence(ctx); err != nil {
		return nil, err
	}
	m, err := o.conn.client.DoCache(ctx, o.conn.client.B().Hgetall().Key(o.appKey(app)).Cache(), time.Minute).AsIntMap()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(m))
	for ch, n := range m {
		if n > 0 {
			out[ch] = int(n)
		}
	}
	return out, nil
}

func (o *RedisOccupancy) Count(ctx context.Context, app, channel string) (int, error) {
	ctx, cancel := o.conn.timeout(ctx)
	defer cancel()
	if err := o.conn.fence(ctx); err != nil {
		return 0, err
	}
	n, err := o.conn.client.DoCache(ctx, o.conn.client.B().Hget().Key(o.appKey(app)).Field(channel).Cache(), time.Minute).AsInt64()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	return max(int(n), 0), err
}

func (o *RedisOccupancy) OtherConnections(app string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.others[app]
}

func (o *RedisOccupancy) Reap(ctx context.Context, node string) ([]ChannelRef, error) {
	ctx, cancel := o.conn.timeout(ctx)
	defer cancel()
	var vacated []ChannelRef
	for _, app := range o.apps {
		args := append(append([]string{node, app}, o.hooks.reapArgs()...),
			o.hooks.appFlags(app, webhook.ChannelVacated), protocol.UserChannelPrefix)
		chans, err := occupancyReapScript.Exec(ctx, o.conn.client, []string{o.appKey(app), o.nodeKey(app, node), o.connsKey(app)}, args).AsStrSlice()
		if err == nil && len(chans) == 0 {
			err = errors.New("subscription count: empty reap reply")
		}
		if err != nil {
			return vacated, err
		}
		dropped, _ := strconv.ParseInt(chans[0], 10, 64)
		o.hooks.dropped(dropped)
		for _, ch := range chans[1:] {
			vacated = append(vacated, ChannelRef{App: app, Channel: ch})
		}
	}
	return vacated, nil
}

func (o *RedisOccupancy) Close() error {
	if o.cancel != nil {
		o.cancel()
		<-o.done
	}
	o.conn.release()
	return nil
}
