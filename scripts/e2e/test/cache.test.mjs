// cache-, private-cache-, presence-cache- channels: the last event is replayed
// right after subscription_succeeded, otherwise pusher:cache_miss.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Env, subscribed, collector, quietFor, sleep, uid,
} from '../lib/harness.mjs';

let env;
before(async () => { env = await Env.create(); });
after(async () => { await env?.cleanup(); });

const kinds = [
  { kind: 'cache-', open: (echo, n) => echo.channel(`cache-${n}`), full: (n) => `cache-${n}` },
  { kind: 'private-cache-', open: (echo, n) => echo.private(`cache-${n}`), full: (n) => `private-cache-${n}` },
  { kind: 'presence-cache-', open: (echo, n) => echo.join(`cache-${n}`), full: (n) => `presence-cache-${n}` },
];

for (const { kind, open, full } of kinds) {
  test(`${kind} channel: cache_miss first, then the last event is replayed to a late subscriber`, async () => {
    const name = uid('prices.');
    const channel = full(name);
    const backend = env.backend();

    // 1. first subscriber: nothing cached yet → pusher:cache_miss
    const first = await env.echo({ user: { id: '1', name: 'First' } });
    const miss = collector();
    const ev1 = collector();
    const ch1 = open(first, name).listen('.pusher:cache_miss', miss).listen('.PriceChanged', ev1);
    await subscribed(ch1.subscription);
    await miss.wait(1, 5000, 'pusher:cache_miss');
    const wire = first.rec.messages.filter((m) => m.channel === channel).map((m) => m.event);
    assert.deepEqual(wire.slice(0, 2), ['pusher_internal:subscription_succeeded', 'pusher:cache_miss'], `wire order: ${JSON.stringify(wire)}`);

    // 2. two events while subscribed; the second is the one to be cached
    await backend.trigger(channel, 'PriceChanged', { price: 1 });
    await backend.trigger(channel, 'PriceChanged', { price: 2 });
    await ev1.wait(2);
    assert.deepEqual(ev1.items.map((d) => d.price), [1, 2]);

    // 3. a late subscriber gets the last event right after subscription_succeeded
    const late = await env.echo({ user: { id: '2', name: 'Late' } });
    const miss2 = collector();
    const ev2 = collector();
    const ch2 = open(late, name).listen('.pusher:cache_miss', miss2).listen('.PriceChanged', ev2);
    await subscribed(ch2.subscription);
    const [cached] = await ev2.wait(1, 5000, 'the cached event');
    assert.deepEqual(cached, { price: 2 });
    const wire2 = late.rec.messages.filter((m) => m.channel === channel && m.event !== 'pusher_internal:member_added').map((m) => m.event);
    assert.deepEqual(wire2.slice(0, 2), ['pusher_internal:subscription_succeeded', 'PriceChanged'], `wire order: ${JSON.stringify(wire2)}`);
    await quietFor(200, () => miss2.items, 'cache_miss although an event was cached');
    assert.equal(ev2.items.length, 1, 'only the last event is replayed');
  });
}

test('a cache channel replays the cached event to a socket that re-subscribes', async () => {
  const name = `cache-${uid('ticker.')}`;
  const c = env.pusher();
  const ch = c.subscribe(name);
  const got = collector();
  ch.bind('tick', got);
  await subscribed(ch);
  await env.backend().trigger(name, 'tick', { v: 'last' });
  await got.wait(1);
  // a second socket keeps the channel occupied while the first re-subscribes
  const keeper = env.pusher();
  await subscribed(keeper.subscribe(name));
  c.unsubscribe(name);
  await sleep(200);
  const again = c.subscribe(name);
  const got2 = collector();
  again.bind('tick', got2);
  await subscribed(again);
  assert.deepEqual(await got2.wait(1), [{ v: 'last' }]);
});
