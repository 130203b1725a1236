// Heartbeats keep an idle pusher-js connection up:
// - app-3 announces activity_timeout 1: pusher-js sends pusher:ping after 1 s
//   of silence and drops the connection if no pusher:pong comes (pongTimeout);
// - app-4 has ping_interval 1: the server pings idle subscribed connections
//   and prunes those that do not answer; pusher-js answers with pusher:pong.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Env, connected, subscribed, collector, sleep, uid,
} from '../lib/harness.mjs';

let env;
before(async () => { env = await Env.create(); });
after(async () => { await env?.cleanup(); });

async function idleClient(t, app, options = {}) {
  if (!env.config.apps.some((a) => a.id === app)) { t.skip(`no ${app} in the config`); return null; }
  const client = env.pusher({ app, options });
  const socketId = await connected(client);
  const name = uid('idle-');
  const ch = await subscribed(client.subscribe(name));
  const got = collector();
  ch.bind('wake', got);
  return { client, socketId, name, got };
}

async function stillAlive(c, app) {
  assert.equal(c.client.connection.socket_id, c.socketId, 'same socket: never dropped');
  assert.deepEqual(c.client.rec.states.map((s) => s.current).filter((s) => s !== 'connecting'), ['connected'], 'no reconnects');
  await env.backend({ app }).trigger(c.name, 'wake', { up: true });
  assert.deepEqual(await c.got.wait(1), [{ up: true }]);
}

test('pusher-js pings after activity_timeout, the server answers pusher:pong, the connection stays up', async (t) => {
  const c = await idleClient(t, 'app-3', { pongTimeout: 3000 });
  if (!c) return;
  assert.equal(c.client.connection.activityTimeout, 1000, 'pusher-js took activity_timeout 1 from connection_established');
  await sleep(4500);
  const pongs = c.client.rec.events('pusher:pong').length;
  t.diagnostic(`after 4.5 s idle: ${pongs} pusher:pong`);
  assert.ok(pongs >= 2, `the server answers pusher:ping with pusher:pong (got ${pongs})`);
  await stillAlive(c, 'app-3');
});

test('the server pings an idle subscribed connection, pusher-js answers, the connection is not pruned', async (t) => {
  const c = await idleClient(t, 'app-4');
  if (!c) return;
  await sleep(4500);
  const pings = c.client.rec.events('pusher:ping');
  t.diagnostic(`after 4.5 s idle: ${pings.length} pusher:ping from the server`);
  assert.ok(pings.length >= 1, 'the server pinged the idle connection');
  assert.equal(c.client.rec.events('pusher:error').length, 0, `no error (e.g. 4201 pong not received): ${JSON.stringify(c.client.rec.events('pusher:error'))}`);
  await stillAlive(c, 'app-4');
});
