package hub

import (
	"context"
	"log"
	"strconv"
	"sync"
	"time"

	"github.com/resound/resound/webhook"
)

// RedisLiveness marks this node alive in Redis and reaps nodes that stopped
// beating. Every time is Redis's (TIME inside the scripts), so nodes whose
// clocks disagree never take each other for dead.
type RedisLiveness struct {
	conn  *RedisConn
	node  string
	hooks LivenessHooks

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	epoch    string
	reported sync.Map // dead nodes already logged
}

// beatEvery is the heartbeat interval; a dead node is reaped within
// node_timeout plus one beat.
const beatEvery = 250 * time.Millisecond

// stallAfter: a gap this long in everybody's beats means Redis stalled
// (SIGSTOP, a long fork, a restart), not that every node died.
const stallAfter = 4 * beatEvery

// quietAfterLoss is how long the webhooks stay quiet after the first node
// noticed that Redis lost its data: eight beats, for every live node to
// reconnect, beat and join the refilling set. It is shorter than the
// SettleTime a resync waits, so by the time the nodes reconciled, events
// flow again.
const quietAfterLoss = 8 * beatEvery

// NewRedisLiveness tracks nodes over conn.
func NewRedisLiveness(conn *RedisConn) *RedisLiveness {
	conn.acquire()
	return &RedisLiveness{conn: conn}
}

func (l *RedisLiveness) nodesKey() string { return l.conn.cfg.Prefix + ":nodes" }
func (l *RedisLiveness) epochKey() string { return l.conn.cfg.Prefix + ":epoch" }
func (l *RedisLiveness) timeoutMs() string {
	return strconv.Itoa(l.conn.cfg.NodeTimeout * 1000)
}

func (l *RedisLiveness) Start(node string, hooks LivenessHooks) error {
	l.node, l.hooks = node, hooks
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.done = make(chan struct{})
	go l.run()
	return nil
}

func (l *RedisLiveness) run() {
	defer close(l.done)
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	for {
		l.beat()
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *RedisLiveness) beat() {
	ctx, cancel := l.conn.timeout(l.ctx)
	defer cancel()
	hooks := webhook.Base(l.conn.cfg.Prefix)
	keys := []string{l.nodesKey(), l.epochKey(), l.conn.cfg.Prefix + ":last-beat", l.conn.cfg.Prefix + ":reap-grace",
		l.conn.cfg.Prefix + ":quiet-for", webhook.QuietKey(hooks), webhook.ResyncingKey(hooks)}
	refilling := "0"
	if l.hooks.Refilling != nil && l.hooks.Refilling() {
		refilling = "1"
	}
	vals, err := livenessBeatScript.Exec(ctx, l.conn.client, keys,
		[]string{l.node, l.timeoutMs(), strconv.FormatUint(randomUint64(), 36), strconv.Itoa(int(stallAfter.Milliseconds())),
			l.epoch, strconv.Itoa(int(quietAfterLoss.Milliseconds())), refilling, l.timeoutMs()}).ToArray()
	if err != nil || len(vals) < 2 {
		if l.ctx.Err() == nil {
			l.conn.failed("heartbeat", err)
		}
		return
	}
	l.conn.down.Store(false)
	added, _ := vals[0].AsInt64()
	epoch, _ := vals[1].ToString()
	outage := l.conn.outage.Swap(false)
	switch {
	case l.epoch == "":
	case epoch != l.epoch:
		log.Printf("scaling: Redis lost its data; registering this node's members again")
	case outage:
		log.Printf("scaling: Redis is back; registering this node's members again")
	case added == 1:
		log.Printf("scaling: this node had been taken for dead; registering its members again")
	}
	if l.epoch != "" && epoch != l.epoch && l.hooks.DataLost != nil {
		l.hooks.DataLost()
	}
	if l.epoch != "" && (epoch != l.epoch || outage || added == 1) && l.hooks.Resync != nil {
		l.hooks.Resync()
	}
	l.epoch = epoch
	for _, v := range vals[2:] {
		node, _ := v.ToString()
		l.reap(ctx, node)
	}
}

// reap removes a dead node's share; several nodes may do it at once, which
// the hooks allow. The node leaves the node set only after its share is
// gone, so a reaper that dies midway leaves the work to the next beat.
func (l *RedisLiveness) reap(ctx context.Context, node string) {
	if _, seen := l.reported.LoadOrStore(node, true); !seen {
		log.Printf("scaling: node %s missed its heartbeats for %ds; removing its members", node, l.conn.cfg.NodeTimeout)
	}
	if l.hooks.Reap != nil {
		if err := l.hooks.Reap(ctx, node); err != nil {
			l.conn.failed("reaping node "+node, err)
			return
		}
	}
	_ = livenessForgetScript.Exec(ctx, l.conn.client, []string{l.nodesKey()}, []string{node, l.timeoutMs()}).Error()
}

// Close stops beating and removes this node's share at once, so its
// members leave now rather than after node_timeout.
func (l *RedisLiveness) Close() error {
	if l.cancel != nil {
		l.cancel()
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if l.hooks.Reap != nil {
			_ = l.hooks.Reap(ctx, l.node)
		}
		_ = livenessForgetScript.Exec(ctx, l.conn.client, []string{l.nodesKey()}, []string{l.node, "0"}).Error()
		// A node stopping while it refilled keeps nobody quiet any longer.
		resyncing := webhook.ResyncingKey(webhook.Base(l.conn.cfg.Prefix))
		_ = l.conn.client.Do(ctx, l.conn.client.B().Zrem().Key(resyncing).Member(l.node).Build()).Error()
		cancel()
	}
	l.conn.release()
	return nil
}
