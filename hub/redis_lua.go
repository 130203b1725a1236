package hub

import (
	"github.com/redis/rueidis"
	"github.com/resound/resound/webhook"
)

// Presence lives in four keys per channel (see presenceKeys): which node
// holds how many sockets of a user ("uid\x1fnode" -> count), on how many nodes
// each user is (uid -> n), each user's member JSON (uid -> json), and a
// version bumped on every change of the user set. The script that changes
// the set also publishes the news, so news goes out exactly once per
// change and in version order. A version starts from Redis's clock in
// microseconds, so it keeps growing when a channel empties and comes back
// or Redis restarts empty.
//
// The scripts that change who is on a channel cluster-wide also queue the
// webhook events of the change (see webhook.ScriptLua), from four ARGV
// "hook" arguments: the webhook key base ("" for none), delay ms, capacity,
// and the app's flags. Each returns how many queued events a trim dropped.
const presenceLuaPrelude = webhook.ScriptLua + `
local function bump(vkey)
  if redis.call('EXISTS', vkey) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', vkey, t[1] .. string.format('%06d', tonumber(t[2])))
  end
  return redis.call('INCR', vkey)
end
local function announce(newsch, app, ch, uid, member, added, v)
  redis.call('PUBLISH', newsch, cjson.encode({a = app, c = ch, u = uid, m = member, t = added, v = string.format('%.0f', v)}))
end
`

// presenceJoinScript: KEYS held, users, info, nodeChannels, version; ARGV
// uid, node, member, channel, app, news channel, max users (0: none), hook
// arguments (8-11). Returns {version, joined (1 when the user is new
// cluster-wide, else 0), dropped, member JSON...}, or {"full"} when a new
// user would take the channel past max.
var presenceJoinScript = rueidis.NewLuaScript(presenceLuaPrelude + `
local max = tonumber(ARGV[7])
if max > 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 and redis.call('HLEN', KEYS[2]) >= max then
  return {'full'}
end
local field = ARGV[1] .. '\31' .. ARGV[2]
local c = redis.call('HINCRBY', KEYS[1], field, 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
local joined, W = 0, nil
if c == 1 and redis.call('HINCRBY', KEYS[2], ARGV[1], 1) == 1 then
  announce(ARGV[6], ARGV[5], ARGV[4], ARGV[1], ARGV[3], true, bump(KEYS[5]))
  joined = 1
  W = wh_open(ARGV[8], ARGV[9], ARGV[10])
  wh_emit(W, ARGV[11], 'member_added', ARGV[5], ARGV[4], ARGV[1])
end
local out = {redis.call('GET', KEYS[5]) or '0', joined, wh_trim(W)}
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do out[#out + 1] = v end
return out
`)

// presenceLeaveScript: KEYS held, users, info, version, nodes; ARGV uid,
// node, app key base, channel, app, news channel, hook arguments (7-10).
// Returns {1 when the user left cluster-wide else 0, dropped}. When the channel empties its keys go, so per-room
// channels do not pile up in Redis.
var presenceLeaveScript = rueidis.NewLuaScript(presenceLuaPrelude + `
local field = ARGV[1] .. '\31' .. ARGV[2]
local c = redis.call('HINCRBY', KEYS[1], field, -1)
if c > 0 then return {0, 0} end
redis.call('HDEL', KEYS[1], field)
if c < 0 then return {0, 0} end
if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) > 0 then return {0, 0} end
local m = redis.call('HGET', KEYS[3], ARGV[1]) or ''
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
announce(ARGV[6], ARGV[5], ARGV[4], ARGV[1], m, false, bump(KEYS[4]))
local W = wh_open(ARGV[7], ARGV[8], ARGV[9])
wh_emit(W, ARGV[10], 'member_removed', ARGV[5], ARGV[4], ARGV[1])
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  for _, n in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
    redis.call('SREM', ARGV[3] .. ':node:' .. n .. ':presence', ARGV[4])
  end
end
return {1, wh_trim(W)}
`)

// presenceListScript: KEYS info, version. Returns {version, member JSON...}
// read together.
var presenceListScript = rueidis.NewLuaScript(`
local out = {redis.call('GET', KEYS[2]) or '0'}
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do out[#out + 1] = v end
return out
`)

// presenceSyncScript makes Redis agree with one node's sockets on one
// channel: KEYS held, users, info, nodeChannels, version; ARGV node, channel,
// app, news channel, hook arguments (5-8), then uid, count, member triples.
// The members it finds gone or new are the webhooks' too: a resync after an
// outage tells the back end what changed meanwhile. Returns dropped.
var presenceSyncScript = rueidis.NewLuaScript(presenceLuaPrelude + `
local suffix = '\31' .. ARGV[1]
local W, flags = nil, ARGV[8]
if flags ~= '' then W = wh_open(ARGV[5], ARGV[6], ARGV[7]) end
local want = {}
for i = 9, #ARGV, 3 do want[ARGV[i]] = i end
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, -#suffix) == suffix then
    local uid = string.sub(field, 1, #field - #suffix)
    if not want[uid] then
      redis.call('HDEL', KEYS[1], field)
      if redis.call('HINCRBY', KEYS[2], uid, -1) <= 0 then
        local m = redis.call('HGET', KEYS[3], uid) or ''
        redis.call('HDEL', KEYS[2], uid)
        redis.call('HDEL', KEYS[3], uid)
        announce(ARGV[4], ARGV[3], ARGV[2], uid, m, false, bump(KEYS[5]))
        wh_emit(W, flags, 'member_removed', ARGV[3], ARGV[2], uid)
      end
    end
  end
end
for uid, i in pairs(want) do
  local field = uid .. suffix
  local old = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  redis.call('HSET', KEYS[1], field, ARGV[i + 1])
  redis.call('HSET', KEYS[3], uid, ARGV[i + 2])
  if old <= 0 and redis.call('HINCRBY', KEYS[2], uid, 1) == 1 then
    announce(ARGV[4], ARGV[3], ARGV[2], uid, ARGV[i + 2], true, bump(KEYS[5]))
    wh_emit(W, flags, 'member_added', ARGV[3], ARGV[2], uid)
  end
end
if next(want) ~= nil then redis.call('SADD', KEYS[4], ARGV[2]) else redis.call('SREM', KEYS[4], ARGV[2]) end
return wh_trim(W)
`)

// presenceReapScript removes a dead node's presence; running it again
// finds nothing. ARGV node, prefix, news channel, the first three hook
// arguments (4-6), a channel whose leaves are no webhook's (the signed-in
// users), then (app id, hook flags) pairs. Returns {dropped, then app,
// channel, uid, member for each user that left cluster-wide...}.
var presenceReapScript = rueidis.NewLuaScript(presenceLuaPrelude + `
local node, prefix, suffix = ARGV[1], ARGV[2], '\31' .. ARGV[1]
local W = wh_open(ARGV[4], ARGV[5], ARGV[6])
local gone = {'0'}
for a = 8, #ARGV, 2 do
  local app, flags = ARGV[a], ARGV[a + 1]
  local base = prefix .. ':' .. app
  local setKey = base .. ':node:' .. node .. ':presence'
  for _, ch in ipairs(redis.call('SMEMBERS', setKey)) do
    local p = base .. ':presence:' .. ch
    local held, users, info, version = p .. ':held', p .. ':users', p .. ':info', p .. ':version'
    for _, field in ipairs(redis.call('HKEYS', held)) do
      if string.sub(field, -#suffix) == suffix then
        local uid = string.sub(field, 1, #field - #suffix)
        redis.call('HDEL', held, field)
        if redis.call('HINCRBY', users, uid, -1) <= 0 then
          local m = redis.call('HGET', info, uid) or ''
          redis.call('HDEL', users, uid)
          redis.call('HDEL', info, uid)
          announce(ARGV[3], app, ch, uid, m, false, bump(version))
          if ch ~= ARGV[7] then wh_emit(W, flags, 'member_removed', app, ch, uid) end
          gone[#gone + 1] = app
          gone[#gone + 1] = ch
          gone[#gone + 1] = uid
          gone[#gone + 1] = m
        end
      end
    end
    if redis.call('HLEN', users) == 0 then redis.call('DEL', held, users, info, version) end
  end
  redis.call('DEL', setKey)
end
gone[1] = tostring(wh_trim(W))
return gone
`)

// Occupancy is a hash of subscription counts per app (channel -> n) and one
// per node; one script changes both, so the app's counts are always the sum
// of the nodes' shares and a dead node's share can be taken out exactly.
// The same scripts queue channel_occupied and channel_vacated for webhooks,
// from the hook arguments (see presenceLuaPrelude).

// occupancyAddScript: KEYS app counts, node counts; ARGV channel, delta,
// app, hook arguments (4-7). Returns {the channel's count after the change (-1
// when it is unknown), dropped}.
var occupancyAddScript = rueidis.NewLuaScript(webhook.ScriptLua + `
local delta = tonumber(ARGV[2])
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], delta)
if n < 0 then
  -- Its increment was lost in an outage: the share is repaired by a sync.
  redis.call('HINCRBY', KEYS[2], ARGV[1], -delta)
  return {-1, 0}
end
if n == 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
local total = redis.call('HINCRBY', KEYS[1], ARGV[1], delta)
if total <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local W = nil
if ARGV[7] ~= '' and (total > 0) ~= (total - delta > 0) then
  W = wh_open(ARGV[4], ARGV[5], ARGV[6])
  wh_emit(W, ARGV[7], total > 0 and 'channel_occupied' or 'channel_vacated', ARGV[3], ARGV[1], nil)
end
if total < 0 then total = -1 end
return {total, wh_trim(W)}
`)

// occupancySyncScript sets a node's share of one channel: KEYS app counts,
// node counts; ARGV channel, count, app, hook arguments (4-7). A channel it
// empties or fills is the webhooks' news too. Returns dropped.
var occupancySyncScript = rueidis.NewLuaScript(webhook.ScriptLua + `
local n = tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if n > 0 then redis.call('HSET', KEYS[2], ARGV[1], n) else redis.call('HDEL', KEYS[2], ARGV[1]) end
if n == old then return 0 end
local total = redis.call('HINCRBY', KEYS[1], ARGV[1], n - old)
if total <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local W = nil
if ARGV[7] ~= '' and (total > 0) ~= (total - (n - old) > 0) then
  W = wh_open(ARGV[4], ARGV[5], ARGV[6])
  wh_emit(W, ARGV[7], total > 0 and 'channel_occupied' or 'channel_vacated', ARGV[3], ARGV[1], nil)
end
return wh_trim(W)
`)

// occupancyReapScript removes a node's whole share: KEYS app counts, node
// counts, connection counts; ARGV node, app, hook arguments (3-6), a
// channel name prefix whose channels are no webhook's. Returns {dropped,
// the channels it vacated...}.
var occupancyReapScript = rueidis.NewLuaScript(webhook.ScriptLua + `
local old = redis.call('HGETALL', KEYS[2])
local vacated = {'0'}
local W = nil
if ARGV[6] ~= '' then W = wh_open(ARGV[3], ARGV[4], ARGV[5]) end
for i = 1, #old, 2 do
  if redis.call('HINCRBY', KEYS[1], old[i], -tonumber(old[i + 1])) <= 0 then
    redis.call('HDEL', KEYS[1], old[i])
    if tonumber(old[i + 1]) > 0 then
      vacated[#vacated + 1] = old[i]
      if string.sub(old[i], 1, #ARGV[7]) ~= ARGV[7] then wh_emit(W, ARGV[6], 'channel_vacated', ARGV[2], old[i], nil) end
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[3], ARGV[1])
vacated[1] = tostring(wh_trim(W))
return vacated
`)

// livenessBeatScript marks a node alive by Redis's clock and lists nodes
// whose last beat is older than the timeout. KEYS nodes, epoch, last beat,
// grace, quiet armed for (an epoch), webhooks' quiet key, webhooks'
// resyncing set; ARGV node, timeout ms, a fresh epoch token, stall ms, the
// epoch this node knew ("" at start), quiet ms, "1" while this node refills
// after a loss, how long that claim holds in ms. Returns {newly added
// (0|1), epoch, dead nodes...}; the epoch changes only when Redis lost its
// data. When nobody beat for longer than stall ms, Redis itself was stopped
// or unreachable: every node's beats were late, so nobody is reaped until a
// full timeout has passed since.
//
// The first node to find the epoch it knew gone makes the webhooks quiet
// for quiet ms (once per new epoch), long enough for every live node to
// beat, notice the loss and claim a place in the resyncing set in the same
// execution; a node keeps its claim fresh while it refills, and a dead
// node's claim lapses.
var livenessBeatScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
local lost = ARGV[5] ~= '' and ARGV[5] ~= epoch
if lost and redis.call('GET', KEYS[5]) ~= epoch then
  redis.call('SET', KEYS[5], epoch)
  redis.call('SET', KEYS[6], '1', 'PX', ARGV[6])
end
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. string.format('%.0f', now))
if lost or ARGV[7] == '1' then
  redis.call('ZADD', KEYS[7], string.format('%.0f', now + tonumber(ARGV[8])), ARGV[1])
else
  redis.call('ZREM', KEYS[7], ARGV[1])
end
local out = {added, epoch}
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('SET', KEYS[3], string.format('%.0f', now))
if last == 0 or now - last > tonumber(ARGV[4]) then
  redis.call('SET', KEYS[4], string.format('%.0f', now + tonumber(ARGV[2])))
end
if now < tonumber(redis.call('GET', KEYS[4]) or '0') then return out end
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - tonumber(ARGV[2])))) do
  if n ~= ARGV[1] then out[#out + 1] = n end
end
return out
`)

// livenessForgetScript drops a reaped node from the node set unless it beat
// again meanwhile. KEYS nodes; ARGV node, timeout ms (0: drop anyway).
var livenessForgetScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and (tonumber(ARGV[2]) == 0 or tonumber(score) < now - tonumber(ARGV[2])) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
`)
