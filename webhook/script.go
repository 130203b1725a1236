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
// Held removals are scored by due time in ms times 1000 plus a sequence,
// so removals due in the same millisecond keep the order they happened in
// (a member removed before its channel is vacated).
const ScriptLua = `
local function wh_new(queue, held, events, delay, cap)
  if queue == '' then return nil end
  local t = redis.call('TIME')
  return {q = queue, held = held, ev = events, delay = tonumber(delay), cap = tonumber(cap),
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), queued = false}
end
local function wh_open(base, delay, cap)
  if base == '' then return nil end
  return wh_new(base .. ':queue', base .. ':held', base .. ':held-events', delay, cap)
end
local function wh_put(W, mode, key, js)
  if mode == 'h' and W.delay > 0 then
    local seq = redis.call('HINCRBY', W.ev, '\0seq', 1) % 1000
    redis.call('ZADD', W.held, (W.now + W.delay) * 1000 + seq, key)
    redis.call('HSET', W.ev, key, js)
  elseif (mode == 'a' or mode == 'c') and redis.call('ZREM', W.held, key) == 1 then
    redis.call('HDEL', W.ev, key)
  elseif mode ~= 'c' then
    redis.call('XADD', W.q, '*', 'e', js)
    W.queued = true
  end
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
