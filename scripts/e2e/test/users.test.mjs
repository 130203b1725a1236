// pusher-js's user layer against the server: signin() through a user
// authentication endpoint signing with the `pusher` SDK's authenticateUser,
// sendToUser reaching every tab, a forged sign-in refused,
// terminateUserConnections closing every tab, watchlist online/offline
// across two clients, and subscription_count.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  Env, DEFAULT_CONFIG, PusherJS, PusherServer, EXTERNAL, record, connected, subscribed, collector, quietFor, waitFor, uid,
} from '../lib/harness.mjs';

// app-1 also sends subscription_count (off by default).
const CONFIG = {
  ...DEFAULT_CONFIG,
  apps: DEFAULT_CONFIG.apps.map((a) => (a.id === 'app-1' ? { ...a, subscription_count_events: true } : a)),
};

let env;
let userAuth;
before(async () => {
  env = await Env.create({ config: CONFIG });
  userAuth = await startUserAuthServer(env);
});
after(async () => {
  await env?.cleanup();
  await userAuth?.close();
});

// A Laravel-style user authentication endpoint. The user comes from the
// X-User-Id header, the watchlist from X-Watch; X-Forge signs with a wrong
// secret, as an attacker without the secret would.
async function startUserAuthServer(env) {
  const app = env.app('app-1');
  const sdk = env.backend({ target: env.targets[0] });
  const forger = new PusherServer({ appId: app.id, key: app.key, secret: `${app.secret}-WRONG`, host: '127.0.0.1' });
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const socketId = new URLSearchParams(body).get('socket_id');
      const id = req.headers['x-user-id'];
      if (!socketId || !id) { res.writeHead(403); res.end('{}'); return; }
      const user = { id, user_info: { name: `user ${id}` } };
      if (req.headers['x-watch']) user.watchlist = req.headers['x-watch'].split(',');
      const signer = req.headers['x-forge'] ? forger : sdk;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(signer.authenticateUser(socketId, user)));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/broadcasting/user-auth`;
  return {
    url,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

// A pusher-js client that signs in as id (watching `watch`).
async function signedIn(id, { watch, forge, target } = {}) {
  const headers = { 'X-User-Id': id };
  if (watch) headers['X-Watch'] = watch.join(',');
  if (forge) headers['X-Forge'] = '1';
  // Built here rather than with env.pusher(), which sets its own `user`
  // property over pusher-js's user facade.
  const app = env.app('app-1');
  const t = target || env.nextTarget();
  const client = new PusherJS(app.key, {
    cluster: 'mt1', wsHost: t.host, wsPort: t.port, wssPort: t.port, forceTLS: false, enabledTransports: ['ws'],
    userAuthentication: { endpoint: userAuth.url, transport: 'ajax', headers },
  });
  client.rec = record(client);
  env.recs.push(client.rec);
  env.cleanups.push(() => client.disconnect());
  await connected(client);
  const online = collector();
  const offline = collector();
  client.user.watchlist.bind('online', online);
  client.user.watchlist.bind('offline', offline);
  client.signin();
  if (!forge) {
    await waitFor(() => client.user.serverToUserChannel?.subscribed, { timeout: 5000, what: `${id} signed in and subscribed to #server-to-user-${id}` });
  }
  return Object.assign(client, { online, offline });
}

const closed = (client) => waitFor(() => client.connection.state !== 'connected' && client.connection.state !== 'connecting',
  { timeout: 5000, what: `connection closed (state ${client.connection.state})` });

test('signin(), sendToUser reaches every tab of the user and nobody else', async () => {
  const id = uid('u');
  const tab1 = await signedIn(id);
  const tab2 = await signedIn(id);
  const other = await signedIn(uid('o'));
  assert.equal(tab1.user.user_data.id, id);
  const got1 = collector();
  const got2 = collector();
  const gotOther = collector();
  tab1.user.bind('order-shipped', got1);
  tab2.user.bind('order-shipped', got2);
  other.user.bind('order-shipped', gotOther);
  const res = await env.backend().sendToUser(id, 'order-shipped', { order: 7 });
  assert.equal(res.status, 200);
  assert.deepEqual((await got1.wait(1))[0], { order: 7 });
  assert.deepEqual((await got2.wait(1))[0], { order: 7 });
  await quietFor(300, () => gotOther.items, 'event for another user');
});

test('a forged sign-in is refused and the socket stays signed out', async () => {
  const id = uid('f');
  const forged = await signedIn(id, { forge: true });
  const [err] = await waitFor(() => forged.rec.events('pusher:signin_error').length && forged.rec.events('pusher:signin_error'),
    { timeout: 5000, what: 'pusher:signin_error' });
  assert.equal(err.data.type, 'AuthError', JSON.stringify(err.data));
  assert.equal(forged.user.user_data, null);
  assert.equal(forged.connection.state, 'connected');
  // The forger cannot listen to the user's channel either (pusher-js's
  // subscribe() refuses '#' names, so the frame is sent as pusher-js would).
  forged.send_event('pusher:subscribe', { auth: '', channel: `#server-to-user-${id}` });
  const [refusal] = await waitFor(() => forged.rec.events('pusher:subscription_error', `#server-to-user-${id}`).length
    && forged.rec.events('pusher:subscription_error', `#server-to-user-${id}`), { timeout: 5000, what: 'subscription_error' });
  assert.equal(refusal.data.status, 403, JSON.stringify(refusal.data));
  const real = await signedIn(id);
  const got = collector();
  real.user.bind('secret', got);
  await env.backend().sendToUser(id, 'secret', 'for the real user');
  await got.wait(1);
  await quietFor(300, () => forged.rec.events('secret'), 'event to the forger');
});

test('terminateUserConnections closes every tab of the user', async () => {
  const id = uid('t');
  const tabs = [await signedIn(id), await signedIn(id), await signedIn(id)];
  const bystander = await signedIn(uid('b'));
  const res = await env.backend().terminateUserConnections(id);
  assert.equal(res.status, 200);
  for (const tab of tabs) {
    await closed(tab);
    const [e] = tab.rec.events('pusher:error');
    assert.equal(e?.data?.code, 4009, JSON.stringify(tab.rec.events('pusher:error')));
  }
  assert.equal(bystander.connection.state, 'connected');
  const got = collector();
  bystander.user.bind('still-here', got);
  await env.backend().sendToUser(bystander.user.user_data.id, 'still-here', {});
  await got.wait(1);
});

test('watchlist: online and offline once each, across two clients', async () => {
  const a = uid('wa');
  const b = uid('wb');
  const early = await signedIn(uid('e'));
  const earlyId = early.user.user_data.id;
  const watcher = await signedIn(a, { watch: [b, earlyId] });
  const [first] = await watcher.online.wait(1, 5000, 'online for the user signed in before');
  assert.deepEqual(first.user_ids, [earlyId]);

  const bTab1 = await signedIn(b);
  const bTab2 = await signedIn(b);
  const [, second] = await watcher.online.wait(2, 5000, `online for ${b}`);
  assert.deepEqual(second.user_ids, [b]);
  bTab1.disconnect();
  await closed(bTab1);
  await quietFor(300, () => watcher.offline.items, 'offline while a tab is still signed in');
  bTab2.disconnect();
  const [gone] = await watcher.offline.wait(1, 5000, `offline for ${b}`);
  assert.deepEqual(gone.user_ids, [b]);
  await quietFor(300, () => (watcher.online.items.length !== 2 || watcher.offline.items.length !== 1) && [watcher.online.items, watcher.offline.items], 'extra watchlist events');
});

test('subscription_count reaches channel.bind("pusher:subscription_count")', async (t) => {
  if (EXTERNAL && !env.app('app-1').subscription_count_events) {
    t.skip('the targets\' app-1 does not enable subscription_count_events');
    return;
  }
  const name = uid('count-');
  const a = env.pusher();
  const b = env.pusher();
  const counts = collector();
  const chA = a.subscribe(name);
  chA.bind('pusher:subscription_count', counts);
  await subscribed(chA);
  await waitFor(() => counts.items.some((c) => c.subscription_count === 1), { timeout: 5000, what: 'subscription_count 1' });
  await subscribed(b.subscribe(name));
  await waitFor(() => counts.items.some((c) => c.subscription_count === 2), { timeout: 5000, what: 'subscription_count 2' });
  assert.equal(chA.subscriptionCount, 2);
  b.disconnect();
  await waitFor(() => counts.items.at(-1).subscription_count === 1, { timeout: 5000, what: 'subscription_count back to 1' });
});
