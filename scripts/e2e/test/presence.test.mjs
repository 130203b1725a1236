// Echo.join(): here / joining / leaving across several clients, one user with
// two tabs, whisper / listenForWhisper.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Env, subscribed, collector, quietFor, waitFor, settled, uid,
} from '../lib/harness.mjs';

let env;
before(async () => { env = await Env.create(); });
after(async () => { await env?.cleanup(); });

const names = (users) => users.map((u) => u.name).sort();

async function join(echo, room) {
  const here = collector();
  const joining = collector();
  const leaving = collector();
  const typing = collector();
  const ch = echo.join(room)
    .here(here)
    .joining(joining)
    .leaving(leaving)
    .listenForWhisper('typing', typing);
  const errors = collector();
  ch.error(errors);
  await here.wait(1, 5000, `here() for ${echo.user.name}`).catch((e) => {
    throw new Error(`${e.message}; subscription errors: ${JSON.stringify(errors.items)}`);
  });
  return { ch, here, joining, leaving, typing };
}

for (const broadcaster of ['reverb', 'pusher']) {
  test(`[${broadcaster}] presence: here/joining/leaving, one user with two tabs counts once, whispers`, async () => {
    const room = uid('room.');
    const channel = `presence-${room}`;
    const alice = await env.echo({ broadcaster, user: { id: '1', name: 'Alice' } });
    const bob1 = await env.echo({ broadcaster, user: { id: '2', name: 'Bob' } });
    const bob2 = await env.echo({ broadcaster, user: { id: '2', name: 'Bob' } });
    const carol = await env.echo({ broadcaster, user: { id: '3', name: 'Carol' } });

    const A = await join(alice, room);
    assert.deepEqual(names(A.here.items[0]), ['Alice']);

    const B1 = await join(bob1, room);
    assert.deepEqual(names(B1.here.items[0]), ['Alice', 'Bob']);
    const [bobInfo] = await A.joining.wait(1, 5000, 'Alice sees Bob joining');
    assert.deepEqual(bobInfo, { id: '2', name: 'Bob' });

    // Bob's second tab: the same user_id, so nobody sees a second "joining".
    const B2 = await join(bob2, room);
    assert.deepEqual(names(B2.here.items[0]), ['Alice', 'Bob'], 'here() lists each user once');
    const succ = bob2.rec.events('pusher_internal:subscription_succeeded', channel)[0];
    assert.equal(succ.data.presence.count, 2, `presence.count counts users, not sockets: ${JSON.stringify(succ.data)}`);
    assert.deepEqual([...succ.data.presence.ids].map(String).sort(), ['1', '2']);

    const C = await join(carol, room);
    assert.deepEqual(names(C.here.items[0]), ['Alice', 'Bob', 'Carol']);
    await A.joining.wait(2, 5000, 'Alice sees Carol joining');
    await B1.joining.wait(1, 5000, 'Bob tab 1 sees Carol joining');
    await B2.joining.wait(1, 5000, 'Bob tab 2 sees Carol joining');
    await quietFor(300, () => A.joining.items.length !== 2 && A.joining.items, 'extra joining');
    assert.deepEqual(A.joining.items.map((u) => u.name), ['Bob', 'Carol'], 'Alice saw Bob join exactly once');
    assert.deepEqual(B1.joining.items.map((u) => u.name), ['Carol'], 'Bob tab 1 did not see its own second tab join');
    assert.equal(alice.rec.events('pusher_internal:member_added', channel).length, 2, 'wire: member_added once per user');
    assert.equal(carol.rec.events('pusher_internal:member_added', channel).length, 0, 'the joiner gets no member_added for itself');

    // The HTTP API sees 3 users.
    const backend = env.backend();
    // (settled: on a cluster the answers may lag by ~1 s)
    await settled(async () => (await backend.get({ path: `/channels/${channel}/users` })).json(), (users) => {
      assert.deepEqual(users.users.map((u) => String(u.id)).sort(), ['1', '2', '3']);
    });
    await settled(async () => (await backend.get({ path: `/channels/${channel}`, params: { info: 'user_count' } })).json(), (info) => {
      assert.equal(info.occupied, true);
      assert.equal(info.user_count, 3);
    });

    // Whisper (typing indicator) from Bob's first tab.
    B1.ch.whisper('typing', { typing: true, name: 'Bob' });
    await A.typing.wait(1, 5000, 'Alice receives the whisper');
    const [data, meta] = A.typing.calls[0];
    assert.deepEqual(data, { typing: true, name: 'Bob' });
    assert.equal(String(meta.user_id), '2', 'user_id of the sender is added on presence channels');
    await C.typing.wait(1, 5000, 'Carol receives the whisper');
    await B2.typing.wait(1, 5000, "Bob's other tab receives the whisper");
    await quietFor(300, () => B1.typing.items, 'whisper echoed to its sender');
    const wire = alice.rec.events('client-typing', channel)[0];
    assert.equal(String(wire.user_id), '2');

    // Bob closes one tab: still present, nobody sees "leaving".
    bob1.leave(room);
    await waitFor(async () => {
      const r = await (await backend.get({ path: `/channels/${channel}`, params: { info: 'user_count' } })).json();
      return r.user_count === 3 && r;
    }, { what: 'user_count stays 3 after one of two tabs leaves' });
    await quietFor(500, () => [...A.leaving.items, ...C.leaving.items, ...B2.leaving.items], 'leaving() while Bob still has a tab');

    // Bob's last tab goes away (connection closed): everybody sees him leave once.
    bob2.disconnect();
    const [left] = await A.leaving.wait(1, 5000, 'Alice sees Bob leaving');
    assert.deepEqual(left, { id: '2', name: 'Bob' });
    const [leftC] = await C.leaving.wait(1, 5000, 'Carol sees Bob leaving');
    assert.equal(leftC.name, 'Bob');
    await quietFor(300, () => A.leaving.items.length > 1 && A.leaving.items, 'a second leaving for Bob');
    assert.deepEqual(alice.rec.events('pusher_internal:member_removed', channel).map((m) => String(m.data.user_id)), ['2']);

    await settled(async () => (await backend.get({ path: `/channels/${channel}/users` })).json(), (after) => {
      assert.deepEqual(after.users.map((u) => String(u.id)).sort(), ['1', '3']);
    });

    // A whisper on a presence channel the sender is not in is not relayed.
    const mallory = env.pusher({ user: { id: '9', name: 'Mallory' } });
    await waitFor(() => mallory.connection.state === 'connected', { what: 'mallory connected' });
    mallory.send_event('client-typing', { typing: 'spoof' }, channel);
    await quietFor(400, () => A.typing.items.filter((d) => d.typing === 'spoof'), 'whisper from a non-member');
  });
}

test('presence via plain pusher-js: members, me, member_added info', async () => {
  // user ids are whatever the app puts in channel_data; an int id must round trip
  const room = uid('ints.');
  const a = env.pusher({ user: { id: '10', name: 'Ten' } });
  const b = env.pusher({ user: { id: '11', name: 'Eleven' } });
  const pa = await subscribed(a.subscribe(`presence-${room}`));
  const added = collector();
  pa.bind('pusher:member_added', added);
  const pb = await subscribed(b.subscribe(`presence-${room}`));
  const [m] = await added.wait(1);
  assert.equal(String(m.id), '11');
  assert.deepEqual(m.info, { id: '11', name: 'Eleven' });
  assert.equal(pb.members.count, 2);
  assert.equal(pb.members.me.id, '11');
  assert.deepEqual(Object.keys(pb.members.members).sort(), ['10', '11']);
});
