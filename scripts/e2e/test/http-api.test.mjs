// The `pusher` npm SDK as the application back end: trigger, triggerBatch,
// GET /channels, /channels/{c}, /channels/{c}/users, terminateUserConnections,
// GET /connections. Run with Node's default HTTP agent (keep-alive in Node 20)
// and with a keepAlive:false agent.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  Env, PusherServer, EXTERNAL, connected, subscribed, collector, quietFor, waitFor, settled, sleep, uid,
} from '../lib/harness.mjs';

let env;
before(async () => { env = await Env.create(); });
after(async () => { await env?.cleanup(); });

const json = async (resPromise) => {
  const res = await resPromise;
  assert.equal(res.status, 200);
  return res.json();
};

const agents = {
  'default agent (keep-alive)': () => undefined,
  'keepAlive:false agent': () => new http.Agent({ keepAlive: false }),
};

for (const [label, makeAgent] of Object.entries(agents)) {
  describe(`pusher SDK, ${label}`, () => {
    let backend;
    let agent;
    before(() => { agent = makeAgent(); backend = env.backend({ agent }); });
    after(() => agent?.destroy());

    test('trigger to one and to several channels; response 200 {}', async () => {
      const a = env.pusher();
      const names = [uid('t1-'), uid('t2-'), uid('t3-')];
      const got = collector();
      for (const n of names) (await subscribed(a.subscribe(n))).bind('Evt', (d) => got({ n, d }));
      const res = await backend.trigger(names[0], 'Evt', { one: true });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {});
      await got.wait(1);
      await backend.trigger(names, 'Evt', { many: true });
      await got.wait(4);
      assert.deepEqual(got.items.slice(1).map((x) => x.n).sort(), [...names].sort());
      assert.ok(got.items.slice(1).every((x) => x.d.many === true));
      // data is delivered as the string the SDK sent: pusher-js parses JSON
      await backend.trigger(names[0], 'Evt', 'not json {');
      const [last] = (await got.wait(5)).slice(-1);
      assert.equal(last.d, 'not json {');
    });

    test('triggerBatch delivers every item, in order', async () => {
      const a = env.pusher();
      const c1 = uid('b1-');
      const c2 = `private-${uid('b2-')}`;
      const got = collector();
      (await subscribed(a.subscribe(c1))).bind_global((e, d) => { if (!e.startsWith('pusher')) got({ c: c1, e, d }); });
      (await subscribed(a.subscribe(c2))).bind_global((e, d) => { if (!e.startsWith('pusher')) got({ c: c2, e, d }); });
      const res = await backend.triggerBatch([
        { channel: c1, name: 'first', data: { i: 1 } },
        { channel: c2, name: 'second', data: { i: 2 } },
        { channel: c1, name: 'third', data: 'three' },
      ]);
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.ok(body && typeof body === 'object', `batch response: ${JSON.stringify(body)}`);
      await got.wait(3);
      assert.deepEqual(got.items.map((x) => [x.c, x.e, x.d]), [[c1, 'first', { i: 1 }], [c2, 'second', { i: 2 }], [c1, 'third', 'three']]);
    });

    test('GET /channels with filter_by_prefix and info=user_count; /channels/{c}; /channels/{c}/users', async () => {
      const tag = uid('q');
      const pres = `presence-${tag}-room`;
      const pub = `${tag}-public`;
      const u1 = env.pusher({ user: { id: '1', name: 'One' } });
      const u2 = env.pusher({ user: { id: '2', name: 'Two' } });
      const u2b = env.pusher({ user: { id: '2', name: 'Two' } });
      for (const c of [u1, u2, u2b]) await subscribed(c.subscribe(pres));
      await subscribed(u1.subscribe(pub));
      await subscribed(u2.subscribe(pub));

      // (settled: on a cluster the answers may lag the subscriptions by ~1 s)
      const get = (path, params) => () => json(backend.get({ path, params }));
      await settled(get('/channels'), (all) => {
        assert.ok(pub in all.channels, `GET /channels: ${JSON.stringify(all)}`);
        assert.ok(pres in all.channels, `GET /channels: ${JSON.stringify(all)}`);
      });

      await settled(get('/channels', { filter_by_prefix: `presence-${tag}`, info: 'user_count' }), (presOnly) => {
        assert.deepEqual(presOnly, { channels: { [pres]: { user_count: 2 } } });
      });

      const none = await json(backend.get({ path: '/channels', params: { filter_by_prefix: `presence-nothing-${tag}` } }));
      assert.deepEqual(none, { channels: {} }, 'no channels is an empty object (pusher-php calls get_object_vars on it)');

      await settled(get(`/channels/${pub}`, { info: 'subscription_count' }), (pubInfo) => {
        assert.equal(pubInfo.occupied, true);
        assert.equal(pubInfo.subscription_count, 2);
      });

      await settled(get(`/channels/${pres}`, { info: 'user_count' }), (presInfo) => {
        assert.equal(presInfo.occupied, true);
        assert.equal(presInfo.user_count, 2);
      });

      const vacant = await json(backend.get({ path: `/channels/${tag}-vacant` }));
      assert.equal(vacant.occupied, false);

      await settled(get(`/channels/${pres}/users`), (users) => {
        assert.deepEqual(users.users.map((u) => String(u.id)).sort(), ['1', '2']);
      });
    });

    test('terminateUserConnections closes every socket of that user and only those', async (t) => {
      const tag = uid('term');
      const pres = `presence-${tag}`;
      const victimId = uid('v');
      const v1 = env.pusher({ user: { id: victimId, name: 'Victim' } });
      const v2 = env.pusher({ user: { id: victimId, name: 'Victim' } });
      const other = env.pusher({ user: { id: 'survivor', name: 'Survivor' } });
      for (const c of [v1, v2, other]) await subscribed(c.subscribe(pres));
      const ids = [v1, v2, other].map((c) => c.connection.socket_id);
      const removed = collector();
      other.channel(pres).bind('pusher:member_removed', removed);

      const res = await backend.terminateUserConnections(victimId);
      assert.equal(res.status, 200);
      for (const [i, c] of [[0, v1], [1, v2]]) {
        await waitFor(() => c.rec.states.some((s) => s.previous === 'connected'), { what: `victim socket ${i + 1} to be disconnected` });
      }
      const [m] = await removed.wait(1, 5000, 'member_removed for the terminated user');
      assert.equal(String(m.id), victimId);
      await sleep(200);
      assert.equal(other.connection.state, 'connected');
      assert.equal(other.connection.socket_id, ids[2], 'the other user kept its socket');
      assert.ok(!other.rec.states.some((s) => s.previous === 'connected'), 'the other user was never disconnected');
      t.diagnostic(`victim received before close: ${JSON.stringify(v1.rec.messages.filter((x) => x.event === 'pusher:error'))}`);
      // The user stays out: pusher-js must not reconnect and rejoin by itself
      // (a close code 4001-4099, e.g. 4009, makes pusher-js give up; a plain
      // close would make it reconnect within a second and rejoin the room).
      await sleep(2500);
      const stillOut = await json(backend.get({ path: `/channels/${pres}/users` }));
      assert.deepEqual(stillOut.users.map((u) => String(u.id)), ['survivor'], `the terminated user rejoined: ${JSON.stringify(stillOut)}; victim states ${JSON.stringify(v1.rec.states.map((s) => s.current))}`);
      v1.disconnect();
      v2.disconnect();
    });

    test('GET /connections counts the new subscribed sockets', async () => {
      // baseline: wait until the count is stable (sockets from earlier tests)
      let before0 = await json(backend.get({ path: '/connections' }));
      assert.equal(typeof before0.connections, 'number', JSON.stringify(before0));
      // (a cluster's count may lag by ~1 s: wait longer between the two reads)
      await waitFor(async () => {
        await sleep(EXTERNAL ? 1500 : 300);
        const now = await json(backend.get({ path: '/connections' }));
        const stable = now.connections === before0.connections;
        before0 = now;
        return stable;
      }, { what: 'a stable /connections count' });
      const a = env.pusher();
      const b = env.pusher();
      const ch = uid('conn-');
      await subscribed(a.subscribe(ch));
      await subscribed(b.subscribe(ch));
      await settled(() => json(backend.get({ path: '/connections' })), (after1) => {
        assert.equal(after1.connections - before0.connections, 2, `${JSON.stringify(before0)} → ${JSON.stringify(after1)}`);
      });
      a.disconnect();
      b.disconnect();
      await waitFor(async () => (await json(backend.get({ path: '/connections' }))).connections === before0.connections, { what: '/connections to drop back' });
    });

    test('a request signed with the wrong secret is refused with 401 and delivers nothing', async () => {
      const a = env.pusher();
      const ch = uid('sig-');
      const got = collector();
      (await subscribed(a.subscribe(ch))).bind('Evt', got);
      const app = env.app();
      const t = env.nextTarget();
      const forged = new PusherServer({ appId: app.id, key: app.key, secret: 'not-the-secret', host: t.host, port: String(t.port), useTLS: false, agent });
      await assert.rejects(forged.trigger(ch, 'Evt', { forged: true }), (e) => e.status === 401);
      await quietFor(300, () => got.items, 'event from a forged request');
    });
  });
}

test('keep-alive: sequential requests reuse one TCP connection, also after an idle pause', async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let sockets = 0;
  const orig = agent.createConnection.bind(agent);
  agent.createConnection = (...args) => { sockets++; return orig(...args); };
  const backend = env.backend({ agent });
  const ch = uid('ka-');
  const a = env.pusher();
  const got = collector();
  (await subscribed(a.subscribe(ch))).bind('n', got);
  for (let i = 0; i < 10; i++) {
    await backend.trigger(ch, 'n', { i });
    await json(backend.get({ path: `/channels/${ch}`, params: { info: 'subscription_count' } }));
  }
  await sleep(2000);
  await backend.trigger(ch, 'n', { i: 10 });
  await got.wait(11);
  assert.deepEqual(got.items.map((d) => d.i), [...Array(11).keys()]);
  t.diagnostic(`TCP connections opened for 21 requests: ${sockets}`);
  assert.equal(sockets, 1, 'the server keeps HTTP/1.1 connections alive');
  agent.destroy();
});

test('connections from different targets see one another (only meaningful with E2E_TARGETS)', async () => {
  // With one server this is a plain fan-out test; with several targets the
  // clients land on different nodes and the trigger goes to yet another.
  const ch = uid('fan-');
  const clients = env.targets.map((target) => env.pusher({ target }));
  const cols = [];
  for (const c of clients) {
    const col = collector();
    (await subscribed(c.subscribe(ch))).bind('e', col);
    cols.push(col);
  }
  await env.backend().trigger(ch, 'e', { x: 1 });
  for (const col of cols) assert.deepEqual(await col.wait(1), [{ x: 1 }]);
  await connected(clients[0]);
});
