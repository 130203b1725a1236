// Webhooks: a real HTTP receiver validates every POST with the pusher SDK's
// webhook check (key and signature) while Echo clients drive a presence
// channel through its whole life.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  Env, DEFAULT_CONFIG, EXTERNAL, PusherServer, waitFor, uid,
} from '../lib/harness.mjs';

// The receiver answers 500 to the first `failFirst` POSTs, then 200.
function receiver(app) {
  const sdk = new PusherServer({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1' });
  const r = { events: [], invalid: [], posts: 0, refused: 0, failFirst: 0 };
  r.server = http.createServer((req, res) => {
    let rawBody = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (rawBody += c));
    req.on('end', () => {
      r.posts++;
      const hook = sdk.webhook({ headers: req.headers, rawBody });
      if (!hook.isValid()) {
        r.invalid.push({ headers: req.headers, rawBody });
        res.writeHead(401); res.end(); return;
      }
      if (r.refused < r.failFirst) {
        r.refused++;
        res.writeHead(500); res.end('not now'); return;
      }
      assert.ok(hook.getTime() instanceof Date);
      r.events.push(...hook.getEvents());
      res.writeHead(200); res.end('ok');
    });
  });
  r.on = (channel) => r.events.filter((e) => e.channel === channel)
    .map((e) => [e.name, e.user_id, e.event].filter(Boolean).join(' '));
  return r;
}

const app = DEFAULT_CONFIG.apps[0];
const hooks = receiver(app);
let env;

before(async () => {
  if (EXTERNAL) return;
  await new Promise((r) => hooks.server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${hooks.server.address().port}/pusher/webhooks`;
  const config = {
    ...DEFAULT_CONFIG,
    webhooks: { delay_ms: 300, batch_ms: 20, retry_min_ms: 50, retry_max_ms: 200 },
    apps: DEFAULT_CONFIG.apps.map((a) => (a.id !== 'app-1' ? a : {
      ...a,
      webhooks: [{
        url,
        event_types: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss'],
        headers: { 'X-From': 'resound' },
      }],
    })),
  };
  env = await Env.create({ config });
});
after(async () => {
  await env?.cleanup();
  hooks.server.closeAllConnections?.();
  await new Promise((r) => hooks.server.close(() => r()));
});

const skip = EXTERNAL ? 'needs its own server configured with a webhook' : false;

test('a presence channel: occupied, member_added, client_event, member_removed, vacated, once each, in order', { skip }, async () => {
  const room = uid('hooks.');
  const channel = `presence-${room}`;
  const alice = await env.echo({ user: { id: '1', name: 'Alice' } });
  const ch = alice.join(room);
  await new Promise((resolve) => ch.here(resolve));
  await waitFor(() => hooks.on(channel).length >= 2, { what: 'occupied and member_added' });
  ch.whisper('typing', { typing: true });
  await waitFor(() => hooks.on(channel).length >= 3, { what: 'client_event' });
  alice.leave(room);
  await waitFor(() => hooks.on(channel).length >= 5, { timeout: 5000, what: 'member_removed and vacated' });
  // A marker after the removal delay: anything else for the room would be in
  // by the time it arrives.
  const marker = `cache-${uid('marker.')}`;
  const probe = env.pusher();
  probe.subscribe(marker);
  await waitFor(() => hooks.on(marker).includes('cache_miss'), { what: 'marker cache_miss' });
  assert.deepEqual(hooks.on(channel), [
    'channel_occupied', 'member_added 1', 'client_event 1 client-typing', 'member_removed 1', 'channel_vacated',
  ]);
  const ce = hooks.events.find((e) => e.channel === channel && e.name === 'client_event');
  assert.equal(JSON.parse(ce.data).typing, true);
  assert.match(ce.socket_id, /^\d+\.\d+$/);
  assert.deepEqual(hooks.invalid, [], 'every webhook passes pusher.webhook(req).isValid()');
});

test('a receiver answering 500 for a while gets every event once it answers 200', { skip }, async () => {
  hooks.failFirst = hooks.refused + 3;
  const room = uid('retry.');
  const channel = `presence-${room}`;
  const bob = await env.echo({ user: { id: '2', name: 'Bob' } });
  const ch = bob.join(room);
  await new Promise((resolve) => ch.here(resolve));
  ch.whisper('wave', 'hi');
  await waitFor(() => hooks.on(channel).length >= 3, { timeout: 10000, what: 'events after the retries' });
  assert.ok(hooks.refused >= 3, `the receiver refused ${hooks.refused} POSTs`);
  bob.leave(room);
  await waitFor(() => hooks.on(channel).length >= 5, { timeout: 5000, what: 'member_removed and vacated' });
  const marker = `cache-${uid('marker.')}`;
  env.pusher().subscribe(marker);
  await waitFor(() => hooks.on(marker).includes('cache_miss'), { what: 'marker cache_miss' });
  assert.deepEqual(hooks.on(channel), [
    'channel_occupied', 'member_added 2', 'client_event 2 client-wave', 'member_removed 2', 'channel_vacated',
  ]);
  assert.deepEqual(hooks.invalid, []);
});
