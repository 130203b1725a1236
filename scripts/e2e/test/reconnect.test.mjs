// Graceful shutdown and reconnect: kill -TERM the server, start it again on
// the same port; pusher-js must reconnect and resubscribe (public, private and
// presence), then receive a new event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Env, EXTERNAL, connected, subscribed, collector, waitFor, uid,
} from '../lib/harness.mjs';

let env;
before(async () => { if (!EXTERNAL) env = await Env.create(); });
after(async () => { await env?.cleanup(); });

test('SIGTERM sends pusher:error 4200 and closes; pusher-js reconnects to the restarted server and resubscribes', { skip: EXTERNAL && 'E2E_TARGETS set: the suite does not control the servers' }, async (t) => {
  const echo = await env.echo({ user: { id: '1', name: 'Ann' } });
  const watcher = await env.echo({ user: { id: '2', name: 'Ben' } });
  const name = uid('news.');
  const pub = collector();
  const priv = collector();
  const here = collector();
  const cPub = echo.channel(name).listen('.Headline', pub);
  const cPriv = echo.private(name).listen('.Headline', priv);
  echo.join(name).here(here);
  await subscribed(cPub.subscription);
  await subscribed(cPriv.subscription);
  await here.wait(1);
  const wHere = collector();
  watcher.join(name).here(wHere);
  await wHere.wait(1);
  const before = await connected(echo.client);

  const stoppedAt = Date.now();
  const exit = await env.server.stop('SIGTERM', 10000);
  const stopMs = Date.now() - stoppedAt;
  t.diagnostic(`resound exited after SIGTERM in ${stopMs} ms with ${JSON.stringify(exit)}`);
  assert.equal(exit.signal, null, `resound must exit by itself on SIGTERM, not be SIGKILLed (${JSON.stringify(exit)})`);

  // What the clients actually received before the socket went away.
  const errs = echo.rec.events('pusher:error');
  assert.equal(errs.length, 1, `one pusher:error before the close, got ${JSON.stringify(echo.rec.messages.slice(-3))}`);
  assert.equal(errs[0].data.code, 4200, `pusher:error data: ${JSON.stringify(errs[0].data)}`);
  assert.equal(watcher.rec.events('pusher:error').at(-1)?.data?.code, 4200);
  await waitFor(() => echo.client.connection.state !== 'connected', { timeout: 5000, what: 'pusher-js to notice the close' });
  t.diagnostic(`states after the close: ${echo.rec.states.slice(-3).map((s) => `${s.previous}->${s.current}`).join(', ')}`);

  // pusher-js may already have reconnected (and resubscribed) to the dying
  // process: count from here on
  const channels = [name, `private-${name}`, `presence-${name}`];
  const subsAtRestart = Object.fromEntries(channels.map((ch) => [ch, echo.rec.events('pusher_internal:subscription_succeeded', ch).length]));
  const hereAtRestart = here.items.length;
  const wHereAtRestart = wHere.items.length;
  const reconnectsBeforeRestart = echo.rec.states.filter((s) => s.current === 'connected').length;
  t.diagnostic(`subscription_succeeded counts when the server is started again: ${JSON.stringify(subsAtRestart)}`);

  const restartAt = Date.now();
  await env.server.start();
  const after = await waitFor(() => echo.client.connection.state === 'connected'
    && echo.rec.states.filter((s) => s.current === 'connected').length > reconnectsBeforeRestart
    && echo.client.connection.socket_id, { timeout: 30000, what: 'pusher-js to reconnect' });
  t.diagnostic(`reconnected ${Date.now() - restartAt} ms after the server was back`);
  assert.notEqual(after, before, 'a new socket id after the reconnect');

  // resubscribed: a second subscription_succeeded for each channel
  for (const ch of channels) {
    await waitFor(() => echo.rec.events('pusher_internal:subscription_succeeded', ch).length > subsAtRestart[ch], { timeout: 10000, what: `re-subscription to ${ch}` });
  }
  await waitFor(() => here.items.length > hereAtRestart, { what: 'here() again after the reconnect' });
  await waitFor(() => watcher.client.connection.state === 'connected' && wHere.items.length > wHereAtRestart, { timeout: 30000, what: 'the watcher to rejoin' });
  const names = here.items.at(-1).map((u) => u.name).sort();
  assert.deepEqual(names.filter((n) => n === 'Ann'), ['Ann']);

  const backend = env.backend();
  await backend.trigger([name, `private-${name}`], 'Headline', { text: 'back online' });
  assert.deepEqual(await pub.wait(1, 5000, 'public event after reconnect'), [{ text: 'back online' }]);
  assert.deepEqual(await priv.wait(1, 5000, 'private event after reconnect'), [{ text: 'back online' }]);
  const users = await (await backend.get({ path: `/channels/presence-${name}/users` })).json();
  assert.deepEqual(users.users.map((u) => String(u.id)).sort(), ['1', '2']);
});
