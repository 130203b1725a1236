package hub

import "github.com/redis/rueidis"

// Presence lives in four keys per channel (see presenceKeys): which node
// holds how many sockets of a user ("uid\x1fnode" -> count), on how many nodes
// each user is (uid -> n), each user's member JSON (uid -> json), and a
// version bumped on every join or leave of a user. A user is added when the
// first node gains them and removed when the last node loses them, so
// member_added/member_removed happen once per cluster; the version lets a
// socket drop news already included in the member list it was sent.

// joinScript: KEYS held, users, info, nodeChannels, version; ARGV uid, node,
// member, channel. Returns {first (0|1), version, member JSON...}.
var joinScript = rueidis.NewLuaScript(`
local field = ARGV[1] .. '\31' .. ARGV[2]
local c = redis.call('HINCRBY', KEYS[1], field, 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
local first = 0
if c == 1 and redis.call('HINCRBY', KEYS[2], ARGV[1], 1) == 1 then
  first = 1
  redis.call('INCR', KEYS[5])
end
local out = {first, tonumber(redis.call('GET', KEYS[5]) or '0')}
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do out[#out + 1] = v end
return out
`)

// leaveScript: KEYS held, users, info, version, nodes; ARGV uid, node, app
// key base, channel. Returns {member JSON, version} when the user left the
// channel cluster-wide, else {}. When the channel empties its keys go, so
// per-room channels do not pile up in Redis.
var leaveScript = rueidis.NewLuaScript(`
local field = ARGV[1] .. '\31' .. ARGV[2]
local c = redis.call('HINCRBY', KEYS[1], field, -1)
if c > 0 then return {} end
redis.call('HDEL', KEYS[1], field)
if c < 0 then return {} end
if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) > 0 then return {} end
local m = redis.call('HGET', KEYS[3], ARGV[1]) or ''
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local v = redis.call('INCR', KEYS[4])
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  for _, n in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
    redis.call('SREM', ARGV[3] .. ':node:' .. n .. ':presence', ARGV[4])
  end
end
return {m, v}
`)

// syncScript makes Redis agree with one node's sockets on one channel, after
// Redis came back: KEYS held, users, info, nodeChannels, version; ARGV node,
// channel, then uid, count, member triples. Returns {kind, member, version}
// triples, kind "+" for a user added and "-" for one removed.
var syncScript = rueidis.NewLuaScript(`
local suffix = '\31' .. ARGV[1]
local want = {}
for i = 3, #ARGV, 3 do want[ARGV[i]] = i end
local out = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, -#suffix) == suffix then
    local uid = string.sub(field, 1, #field - #suffix)
    if not want[uid] then
      redis.call('HDEL', KEYS[1], field)
      if redis.call('HINCRBY', KEYS[2], uid, -1) <= 0 then
        local m = redis.call('HGET', KEYS[3], uid) or ''
        redis.call('HDEL', KEYS[2], uid)
        redis.call('HDEL', KEYS[3], uid)
        out[#out + 1] = '-'; out[#out + 1] = m; out[#out + 1] = redis.call('INCR', KEYS[5])
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
    out[#out + 1] = '+'; out[#out + 1] = ARGV[i + 2]; out[#out + 1] = redis.call('INCR', KEYS[5])
  end
end
if next(want) ~= nil then redis.call('SADD', KEYS[4], ARGV[2]) else redis.call('SREM', KEYS[4], ARGV[2]) end
return out
`)

// reapScript removes a dead node's presence, once: the caller that wins the
// ZREM does the work. KEYS nodes; ARGV node, prefix, app ids... Returns
// {app, channel, member JSON, version} for users who left cluster-wide.
var reapScript = rueidis.NewLuaScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return {} end
local node, prefix, suffix = ARGV[1], ARGV[2], '\31' .. ARGV[1]
local out = {}
for a = 3, #ARGV do
  local app = ARGV[a]
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
          out[#out + 1] = app
          out[#out + 1] = ch
          out[#out + 1] = redis.call('HGET', info, uid) or ''
          out[#out + 1] = redis.call('INCR', version)
          redis.call('HDEL', users, uid)
          redis.call('HDEL', info, uid)
        end
      end
    end
  end
  redis.call('DEL', setKey, base .. ':node:' .. node .. ':channels', base .. ':node:' .. node .. ':conns')
end
return out
`)
