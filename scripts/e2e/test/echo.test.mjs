// laravel-echo 2.x + pusher-js 8.x against a real resound: public and private
// channels, rejected authorization, leave(), toOthers() and app isolation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Env, PusherJS, connected, subscribed, collector, quietFor, waitFor, settled, uid, sleep,
} from '../lib/harness.mjs';

let env;
before(async () => { env = await Env.create(); });
after(async () => { await env?.cleanup(); });

for (const broadcaster of ['reverb', 'pusher']) {
  test(`[${broadcaster}] Echo.channel().listen() receives an event triggered with the pusher SDK`, async () => {
    const echo = await env.echo({ broadcaster });
    const name = uid('orders-');
    const got = collector();
    const ch = echo.channel(name).listen('OrderShipped', got);
    const socketId = await connected(echo.client);
    assert.match(socketId, /^\d+\.\d+$/, 'socket_id must look like "123.456"');
    await subscribed(ch.subscription);

    // Laravel broadcasts the FQCN; Echo's default namespace is App.Events.
    const backend = env.backend();
    await backend.trigger(name, 'App\\Events\\OrderShipped', { order: { id: 42 }, note: 'ünïcødé ✓' });
    const [payload] = await got.wait(1);
    assert.deepEqual(payload, { order: { id: 42 }, note: 'ünïcødé ✓' });

    // On the wire the event carried the channel and a JSON-string data.
    const wire = echo.rec.events('App\\Events\\OrderShipped', name);
    assert.equal(wire.length, 1);

    // .listen('.Name') = no namespace.
    const raw = collector();
    ch.listen('.plain-event', raw);
    await backend.trigger(name, 'plain-event', 'just a string');
    assert.deepEqual(await raw.wait(1), ['just a string']);
  });

  test(`[${broadcaster}] Echo.private().listen() authorizes through the endpoint and receives events`, async () => {
    const user = { id: '7', name: 'Seven' };
    const echo = await env.echo({ broadcaster, user });
    const name = uid('user.');
    const got = collector();
    const ch = echo.private(name).listen('.private-ping', got);
    await subscribed(ch.subscription);
    const socketId = echo.socketId();
    assert.ok(env.auth.requests.some((r) => r.channel === `private-${name}` && r.socketId === socketId), 'the authorizer endpoint was called with the socket id and channel');
    await env.backend().trigger(`private-${name}`, 'private-ping', { n: 1 });
    assert.deepEqual(await got.wait(1), [{ n: 1 }]);
  });

  test(`[${broadcaster}] Echo.private().error() fires when the app refuses (403); nothing is delivered`, async () => {
    const echo = await env.echo({ broadcaster, user: { id: '1' } });
    const name = uid('forbidden-');
    const errors = collector();
    const events = collector();
    echo.private(name).listen('.x', events).error(errors);
    const [err] = await errors.wait(1);
    assert.equal(err.type, 'AuthError');
    assert.equal(err.status, 403);
    await env.backend().trigger(`private-${name}`, 'x', {});
    await quietFor(300, () => events.items, 'event on a refused channel');
  });

  test(`[${broadcaster}] Echo.private().error() fires when the server rejects a bad signature`, async () => {
    const echo = await env.echo({ broadcaster, user: { id: '1' } });
    await connected(echo.client);
    const name = uid('badsig-');
    const errors = collector();
    const events = collector();
    echo.private(name).listen('.x', events).error(errors);
    const [err] = await errors.wait(1, 5000, 'subscription_error from the server');
    // Contract: {"type":"AuthError","error":"...","status":401}
    assert.equal(err.type, 'AuthError', `subscription_error data: ${JSON.stringify(err)}`);
    assert.equal(err.status, 401, `subscription_error data: ${JSON.stringify(err)}`);
    assert.equal(typeof err.error, 'string');
    const wire = echo.rec.events('pusher:subscription_error', `private-${name}`);
    assert.equal(wire.length, 1, `the server sent pusher:subscription_error on the channel: ${JSON.stringify(echo.rec.messages.slice(-3))}`);
    assert.equal(echo.rec.events('pusher_internal:subscription_succeeded', `private-${name}`).length, 0);
    await env.backend().trigger(`private-${name}`, 'x', {});
    await quietFor(300, () => events.items, 'event on a channel whose auth failed');
    // the connection stays usable
    assert.equal(echo.client.connection.state, 'connected');
  });

  test(`[${broadcaster}] Echo.leave() unsubscribes: no more events, the channel becomes vacant`, async () => {
    const echo = await env.echo({ broadcaster, user: { id: '3' } });
    const name = uid('room-');
    const pub = collector();
    const priv = collector();
    const c1 = echo.channel(name).listen('.tick', pub);
    const c2 = echo.private(name).listen('.tick', priv);
    await subscribed(c1.subscription);
    await subscribed(c2.subscription);
    const backend = env.backend();
    await backend.trigger([name, `private-${name}`], 'tick', { n: 1 });
    await pub.wait(1);
    await priv.wait(1);

    echo.leave(name); // leaves name, private-name, private-encrypted-name, presence-name
    await waitFor(async () => {
      const res = await backend.get({ path: '/channels', params: { filter_by_prefix: 'private-' } });
      const { channels } = await res.json();
      return !(`private-${name}` in channels);
    }, { what: `private-${name} to disappear from GET /channels after leave()` });
    await settled(async () => (await backend.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })).json(), (info) => {
      assert.equal(info.occupied, false, `GET /channels/${name} after leave(): ${JSON.stringify(info)}`);
    });
    await backend.trigger([name, `private-${name}`], 'tick', { n: 2 });
    await quietFor(300, () => [...pub.items, ...priv.items].filter((d) => d.n === 2), 'event after leave()');
  });

  test(`[${broadcaster}] toOthers(): a trigger with the sender's socket_id skips only that socket`, async () => {
    const alice = await env.echo({ broadcaster, user: { id: 'a' } });
    const bob = await env.echo({ broadcaster, user: { id: 'b' } });
    const name = uid('chat.');
    const gotA = collector();
    const gotB = collector();
    const ca = alice.private(name).listen('.MessagePosted', gotA);
    const cb = bob.private(name).listen('.MessagePosted', gotB);
    await subscribed(ca.subscription);
    await subscribed(cb.subscription);

    // What Laravel does for broadcast(...)->toOthers(): the X-Socket-ID header
    // (Echo's socketId()) becomes socket_id in the trigger.
    const socketId = alice.socketId();
    assert.match(socketId, /^\d+\.\d+$/);
    await env.backend().trigger(`private-${name}`, 'MessagePosted', { text: 'hi' }, { socket_id: socketId });
    assert.deepEqual(await gotB.wait(1), [{ text: 'hi' }]);
    await quietFor(300, () => gotA.items, 'event on the excluded socket');

    // batch with socket_id, too
    await env.backend().triggerBatch([
      { channel: `private-${name}`, name: 'MessagePosted', data: { text: 'batch' }, socket_id: bob.socketId() },
    ]);
    assert.deepEqual(await gotA.wait(1), [{ text: 'batch' }]);
    await quietFor(300, () => gotB.items.filter((d) => d.text === 'batch'), 'batch event on the excluded socket');
  });
}

test('client events are refused on public channels and from non-members; never echoed', async (t) => {
  const a = env.pusher({ user: { id: '1' } });
  const b = env.pusher({ user: { id: '2' } });
  const c = env.pusher({ user: { id: '3' } });
  const name = uid('pub-');
  const pa = await subscribed(a.subscribe(name));
  const pb = await subscribed(b.subscribe(name));
  const gotB = collector();
  pb.bind('client-typing', gotB);
  pa.trigger('client-typing', { on: true });
  await quietFor(400, () => gotB.items, 'client event relayed on a public channel');

  const priv = `private-${name}`;
  const xa = await subscribed(a.subscribe(priv));
  const xb = await subscribed(b.subscribe(priv));
  const gotA = collector();
  const gotPB = collector();
  xa.bind('client-typing', gotA);
  xb.bind('client-typing', gotPB);
  // c is connected but not subscribed to priv: raw send of a client event
  await connected(c);
  c.send_event('client-typing', { from: 'c' }, priv);
  xa.trigger('client-typing', { from: 'a' });
  await gotPB.wait(1);
  const [data, meta] = gotPB.calls[0];
  assert.deepEqual(data, { from: 'a' });
  assert.equal(meta.user_id, undefined, 'no user_id on a private (non-presence) channel');
  await quietFor(400, () => gotA.items, 'client event echoed to its sender');
  assert.equal(gotPB.items.length, 1, `only the member's client event is relayed: ${JSON.stringify(gotPB.items)}`);
  t.diagnostic(`non-member client event answered with: ${JSON.stringify(c.rec.events('pusher:error'))}`);
  t.diagnostic(`public-channel client event answered with: ${JSON.stringify(a.rec.events('pusher:error'))}`);
});

test('apps are isolated: an event for app-2 never reaches an app-1 socket on the same channel name', async (t) => {
  if (!env.config.apps.some((a) => a.id === 'app-2')) { t.skip('no app-2 in the config'); return; }
  const one = env.pusher({ app: 'app-1' });
  const two = env.pusher({ app: 'app-2' });
  const name = uid('shared-');
  const c1 = await subscribed(one.subscribe(name));
  const c2 = await subscribed(two.subscribe(name));
  const g1 = collector();
  const g2 = collector();
  c1.bind('evt', g1);
  c2.bind('evt', g2);
  await env.backend({ app: 'app-2' }).trigger(name, 'evt', { app: 2 });
  assert.deepEqual(await g2.wait(1), [{ app: 2 }]);
  await quietFor(300, () => g1.items, 'app-2 event on app-1');
});

test('an unknown app key is refused with pusher:error 4001', async () => {
  const target = env.nextTarget();
  const bogus = new PusherJS('no-such-key', {
    cluster: 'mt1', wsHost: target.host, wsPort: target.port, forceTLS: false,
    enabledTransports: ['ws'],
  });
  try {
    const err = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no error for an unknown key; states: ${bogus.connection.state}`)), 8000);
      bogus.connection.bind('error', (e) => { clearTimeout(t); resolve(e); });
    });
    // pusher-js surfaces a handshake pusher:error as
    // {type:'WebSocketError', error:{type:'PusherError', data:{code,message}}}
    const code = err?.error?.data?.code ?? err?.data?.code;
    assert.equal(code, 4001, JSON.stringify(err));
    await sleep(100);
    assert.notEqual(bogus.connection.state, 'connected');
  } finally {
    bogus.disconnect();
  }
});

test('Echo.private(App.Models.User.N).notification() receives a broadcast notification', async () => {
  const echo = await env.echo({ user: { id: '77' } });
  const got = collector();
  const ch = echo.private('App.Models.User.77').notification(got);
  await subscribed(ch.subscription);
  // what Laravel's BroadcastChannel sends for $user->notify(new InvoicePaid)
  await env.backend().trigger('private-App.Models.User.77', 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', {
    id: '5d1c3b0e-7c1e-4c52-9c55-0f3f0f5c7c11', type: 'App\\Notifications\\InvoicePaid', amount: 99,
  });
  const [n] = await got.wait(1);
  assert.equal(n.type, 'App\\Notifications\\InvoicePaid');
  assert.equal(n.amount, 99);
});

test('channel names with every character Pusher allows, and a ~9 KB payload, arrive intact', async () => {
  const echo = await env.echo();
  const name = `odd-_=@,.;${uid('')}`;
  const got = collector();
  const ch = echo.channel(name).listen('.Big', got);
  await subscribed(ch.subscription);
  const text = 'é✓'.repeat(1500) + 'x'.repeat(4000); // ~9 KB of JSON, multi-byte UTF-8
  await env.backend().trigger(name, 'Big', { text });
  const [d] = await got.wait(1);
  assert.equal(d.text, text);
});
