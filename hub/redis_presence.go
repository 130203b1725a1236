package hub

import (
	"context"
	"errors"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	"github.com/redis/rueidis"
	"github.com/resound/resound/webhook"
)

// RedisPresence is Presence shared over Redis. Its news travels on its own
// pub/sub channel, apart from the event bus.
type RedisPresence struct {
	conn  *RedisConn
	apps  []string
	node  string
	hooks *scriptHooks

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// NewRedisPresence shares presence of the given apps over conn.
func NewRedisPresence(conn *RedisConn, appIDs []string) *RedisPresence {
	conn.acquire()
	return &RedisPresence{conn: conn, apps: appIDs}
}

func (p *RedisPresence) useHooks(h *scriptHooks) { p.hooks = h }

type presenceKeys struct{ held, users, info, nodeChannels, version string }

func (p *RedisPresence) keys(app, channel string) presenceKeys {
	b := p.conn.base(app) + ":presence:" + channel
	return presenceKeys{b + ":held", b + ":users", b + ":info", p.conn.base(app) + ":node:" + p.node + ":presence", b + ":version"}
}

func (p *RedisPresence) newsChannel() string { return p.conn.cfg.Prefix + ":presence-news" }
func (p *RedisPresence) nodesKey() string    { return p.conn.cfg.Prefix + ":nodes" }

// wireNews is MemberNews as the scripts publish it.
type wireNews struct {
	App     string `json:"a"`
	Channel string `json:"c"`
	UserID  string `json:"u"`
	Member  string `json:"m"`
	Added   bool   `json:"t"`
	Version string `json:"v"`
}

// Start subscribes to the news channel; it returns once subscribed (or
// after 10 s, when the subscription keeps trying in the background).
func (p *RedisPresence) Start(node string, news func(MemberNews)) error {
	p.node = node
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.done = make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		p.conn.runSubscription(p.ctx, p.newsChannel(), ready, func(msg string) {
			var w wireNews
			if json.Unmarshal([]byte(msg), &w) != nil {
				return
			}
			v, _ := strconv.ParseInt(w.Version, 10, 64)
			news(MemberNews{App: w.App, Channel: w.Channel, UserID: w.UserID, Member: w.Member, Added: w.Added, Version: v})
		})
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
	}
	return nil
}

func (p *RedisPresence) Join(ctx context.Context, app, channel, userID, member string, max int) (PresenceList, error) {
	if err := p.conn.usable(); err != nil {
		return PresenceList{}, err
	}
	ctx, cancel := p.conn.timeout(ctx)
	defer cancel()
	k := p.keys(app, channel)
	args := append([]string{userID, p.node, member, channel, app, p.newsChannel(), strconv.Itoa(max)}, p.hooks.args(app, channel)...)
	vals, err := presenceJoinScript.Exec(ctx, p.conn.client, []string{k.held, k.users, k.info, k.nodeChannels, k.version}, args).ToArray()
	if err != nil {
		p.conn.failed("presence join", err)
		return PresenceList{}, err
	}
	if len(vals) == 1 {
		if s, _ := vals[0].ToString(); s == "full" {
			return PresenceList{}, ErrPresenceFull
		}
	}
	if len(vals) < 3 {
		return PresenceList{}, errors.New("presence: short join reply")
	}
	joined, _ := vals[1].AsInt64()
	dropped, _ := vals[2].AsInt64()
	p.hooks.dropped(dropped)
	list, err := listFrom(append(vals[:1:1], vals[3:]...))
	list.Joined = joined == 1
	return list, err
}

func listFrom(vals []rueidis.RedisMessage) (PresenceList, error) {
	if len(vals) == 0 {
		return PresenceList{}, errors.New("presence: empty reply")
	}
	vs, _ := vals[0].ToString()
	v, _ := strconv.ParseInt(vs, 10, 64)
	out := PresenceList{Version: v, Members: make([]string, 0, len(vals)-1)}
	for _, m := range vals[1:] {
		s, _ := m.ToString()
		out.Members = append(out.Members, s)
	}
	return out, nil
}

func (p *RedisPresence) Leave(ctx context.Context, app, channel, userID string) (bool, error) {
	if err := p.conn.usable(); err != nil {
		return false, err
	}
	ctx, cancel := p.conn.timeout(ctx)
	defer cancel()
	k := p.keys(app, channel)
	args := append([]string{userID, p.node, p.conn.base(app), channel, app, p.newsChannel()}, p.hooks.args(app, channel)...)
	res, err := presenceLeaveScript.Exec(ctx, p.conn.client, []string{k.held, k.users, k.info, k.version, p.nodesKey()}, args).AsIntSlice()
	if err == nil && len(res) < 2 {
		err = errors.New("presence: short leave reply")
	}
	if err != nil {
		p.conn.failed("presence leave", err)
		return false, err
	}
	p.hooks.dropped(res[1])
	return res[0] == 1, nil
}

func (p *RedisPresence) Members(ctx context.Context, app, channel string) (PresenceList, error) {
	ctx, cancel := p.conn.timeout(ctx)
	defer cancel()
	k := p.keys(app, channel)
	vals, err := presenceListScript.Exec(ctx, p.conn.client, []string{k.info, k.version}, nil).ToArray()
	if err != nil {
		return PresenceList{}, err
	}
	return listFrom(vals)
}

// Count reads through rueidis's client-side cache after a fence (see
// RedisConn.fence): never stale, and a repeated query moves no data.
func (p *RedisPresence) Count(ctx context.Context, app, channel string) (int, error) {
	ctx, cancel := p.conn.timeout(ctx)
	defer cancel()
	if err := p.conn.fence(ctx); err != nil {
		return 0, err
	}
	n, err := p.conn.client.DoCache(ctx, p.conn.client.B().Hlen().Key(p.keys(app, channel).users).Cache(), time.Minute).AsInt64()
	return int(n), err
}

func (p *RedisPresence) Sync(ctx context.Context, app, channel string, local []LocalMember) error {
	ctx, cancel := p.conn.timeout(ctx)
	defer cancel()
	k := p.keys(app, channel)
	args := append([]string{p.node, channel, app, p.newsChannel()}, p.hooks.args(app, channel)...)
	for _, m := range local {
		args = append(args, m.UserID, strconv.Itoa(m.Sockets), m.Member)
	}
	dropped, err := presenceSyncScript.Exec(ctx, p.conn.client, []string{k.held, k.users, k.info, k.nodeChannels, k.version}, args).AsInt64()
	if err != nil {
		p.conn.failed("presence sync", err)
		return err
	}
	p.hooks.dropped(dropped)
	return nil
}

func (p *RedisPresence) Registered(ctx context.Context, app string) ([]string, error) {
	ctx, cancel := p.conn.timeout(ctx)
	defer cancel()
	return p.conn.client.Do(ctx, p.conn.client.B().Smembers().Key(p.keys(app, "").nodeChannels).Build()).AsStrSlice()
}

func (p *RedisPresence) Reap(ctx context.Context, node string) ([]MemberNews, error) {
	ctx, cancel := p.conn.timeout(ctx)
	defer cancel()
	args := append(append([]string{node, p.conn.cfg.Prefix, p.newsChannel()}, p.hooks.reapArgs()...), usersChannel)
	for _, app := range p.apps {
		args = append(args, app, p.hooks.appFlags(app, webhook.MemberRemoved))
	}
	flat, err := presenceReapScript.Exec(ctx, p.conn.client, nil, args).AsStrSlice()
	if err != nil {
		return nil, err
	}
	if len(flat) == 0 {
		return nil, errors.New("presence: empty reap reply")
	}
	dropped, _ := strconv.ParseInt(flat[0], 10, 64)
	p.hooks.dropped(dropped)
	var gone []MemberNews
	for i := 1; i+3 < len(flat); i += 4 {
		gone = append(gone, MemberNews{App: flat[i], Channel: flat[i+1], UserID: flat[i+2], Member: flat[i+3]})
	}
	return gone, nil
}

func (p *RedisPresence) Close() error {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	p.conn.release()
	return nil
}
