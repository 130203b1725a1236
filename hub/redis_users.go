package hub

import (
	"context"

	"github.com/redis/rueidis"
)

// quietJoiner is a Presence that can add a socket without reading the
// member list back. Signed-in users are one key for the whole app, so a
// sign-in must not cost O(users online): once a node's view of who is
// online is loaded, news keeps it current and the list is not needed.
type quietJoiner interface {
	JoinQuiet(ctx context.Context, app, channel, userID, member string) error
}

// presenceJoinQuietScript is presenceJoinScript without the limit and
// without the member list. KEYS held, users, info, nodeChannels, version;
// ARGV uid, node, member, channel, app, news channel.
var presenceJoinQuietScript = rueidis.NewLuaScript(presenceLuaPrelude + `
local field = ARGV[1] .. '\31' .. ARGV[2]
local c = redis.call('HINCRBY', KEYS[1], field, 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
if c == 1 and redis.call('HINCRBY', KEYS[2], ARGV[1], 1) == 1 then
  announce(ARGV[6], ARGV[5], ARGV[4], ARGV[1], ARGV[3], true, bump(KEYS[5]))
end
return 0
`)

func (p *RedisPresence) JoinQuiet(ctx context.Context, app, channel, userID, member string) error {
	if err := p.conn.usable(); err != nil {
		return err
	}
	ctx, cancel := p.conn.timeout(ctx)
	defer cancel()
	k := p.keys(app, channel)
	err := presenceJoinQuietScript.Exec(ctx, p.conn.client, []string{k.held, k.users, k.info, k.nodeChannels, k.version},
		[]string{userID, p.node, member, channel, app, p.newsChannel()}).Error()
	if err != nil {
		p.conn.failed("presence join", err)
	}
	return err
}

func (p *MemoryPresence) JoinQuiet(_ context.Context, app, channel, userID, member string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := chanKey{app, channel}
	users := p.channels.get(k)
	if users == nil {
		users = &memoryUsers{}
		p.channels.set(k, users)
	}
	if m := users.ptr(userID); m != nil {
		m.sockets++
		m.member = member
		return nil
	}
	users.put(userID, memoryMember{sockets: 1, member: member})
	p.change(app, channel, userID, member, true)
	return nil
}
