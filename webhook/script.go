package webhook

import "strconv"

// ScriptLua lets a Redis script that makes a cluster-wide change (a
// channel occupied, a member gone) queue the webhook event in the same
// execution: Redis's order is then the order of truth, and no event sits in
// a node's memory between the change and the queue, where a crash or a
// slower node could lose it or let it overtake the change that undoes it.
// RedisStore's own Add runs the same code.
//
// wh_new opens the store for one execution, or returns nil for a node with
// no webhook store in Redis. wh_put holds a removal until due, cancels a held
// removal with its addition, or queues. wh_emit builds a cluster event of
// one of the four kinds, in the JSON Event decodes, and puts it when the
// app's flags want it: 'o' channel_occupied, 'v' channel_vacated, 'a'
// member_added, 'r' member_removed. An addition cancels its held removal
// even when the app does not want additions. wh_trim keeps the queue's
// capacity and returns how many old entries it dropped.
//
// Held removals are scored by due time in ms times 1000, raised past the
// last score given (kept in the held-events hash), so removals due in the
// same millisecond keep the order they happened in (a member removed before
// its channel is vacated). Scores stay below 2^53, exact in Lua's doubles.
//
// While Redis refills after it lost its data (see QuietKey), the store is
// quiet: an addition still cancels its held removal, but nothing new is
// held or queued, since what the refill finds was announced before the loss.
const ScriptLua = `
local function wh_new(queue, held, events, delay, cap)
  if queue == '' then return nil end
  local t = redis.call('TIME')
  return {q = queue, held = held, ev = events, delay = tonumber(delay), cap = tonumber(cap),
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), queued = false}
end
local function wh_open(base, delay, cap)
  if base == '' then return nil end
  local W = wh_new(base .. ':queue', base .. ':held', base .. ':held-events', delay, cap)
  W.quiet = redis.call('EXISTS', base .. ':quiet') == 1 or
    redis.call('ZCOUNT', base .. ':resyncing', W.now, '+inf') > 0
  return W
end
local function wh_put(W, mode, key, js)
  if mode == 'h' and W.delay > 0 then
    if W.quiet then return end
    local last = tonumber(redis.call('HGET', W.ev, '\0seq') or '0')
    local score = math.max((W.now + W.delay) * 1000, last + 1)
    redis.call('HSET', W.ev, '\0seq', string.format('%.0f', score))
    redis.call('ZADD', W.held, string.format('%.0f', score), key)
    redis.call('HSET', W.ev, key, js)
    return
  end
  if (mode == 'a' or mode == 'c') and redis.call('ZREM', W.held, key) == 1 then
    redis.call('HDEL', W.ev, key)
    return
  end
  if mode == 'c' or W.quiet then return end
  redis.call('XADD', W.q, '*', 'e', js)
  W.queued = true
end
local WH_KINDS = {channel_occupied = {'o', 'v', false}, channel_vacated = {'v', 'o', true},
  member_added = {'a', 'r', false}, member_removed = {'r', 'a', true}}
local function wh_emit(W, flags, name, app, ch, uid)
  if W == nil or flags == '' then return end
  local kind = WH_KINDS[name]
  local wanted = string.find(flags, kind[1], 1, true) ~= nil
  local key = app .. '\0' .. ch
  if uid then key = key .. '\0' .. uid end
  if not wanted then
    if not kind[3] and string.find(flags, kind[2], 1, true) then wh_put(W, 'c', key, '') end
    return
  end
  local js = cjson.encode({app = app, name = name, channel = ch, user_id = uid})
  if kind[3] then wh_put(W, 'h', key, js) else wh_put(W, 'a', key, js) end
end
local function wh_trim(W)
  if W == nil or not W.queued or W.cap <= 0 then return 0 end
  local len = redis.call('XLEN', W.q)
  if len > W.cap then
    redis.call('XTRIM', W.q, 'MAXLEN', W.cap)
    return len - W.cap
  end
  return 0
end
`

// QuietKey, under a store's key base, exists for a while after Redis lost
// its data, until every live node has noticed the loss and joined
// ResyncingKey: a sorted set of the nodes refilling their shares, scored by
// when their claim lapses, so a node that dies while refilling does not
// keep the store quiet.
func QuietKey(base string) string     { return base + ":quiet" }
func ResyncingKey(base string) string { return base + ":resyncing" }

// Base is the key base of the store that NewRedisStore makes under prefix.
func Base(prefix string) string { return prefix + ":webhooks" }

// ScriptTarget is what a script needs to queue into a RedisStore: its key
// base, the removal delay, the queue's capacity, and where to count the
// entries a trim dropped.
type ScriptTarget struct {
	Base    string
	DelayMs int
	Cap     int
	Dropped func(n int)
}

// Args are wh_open's three arguments, in order.
func (t ScriptTarget) Args() []string {
	return []string{t.Base, strconv.Itoa(t.DelayMs), strconv.Itoa(t.Cap)}
}

// Flags spells which of the four cluster kinds an app wants, for wh_emit.
func Flags(wants func(name string) bool) string {
	var b []byte
	for _, k := range [...]struct {
		name string
		flag byte
	}{{ChannelOccupied, 'o'}, {ChannelVacated, 'v'}, {MemberAdded, 'a'}, {MemberRemoved, 'r'}} {
		if wants(k.name) {
			b = append(b, k.flag)
		}
	}
	return string(b)
}
