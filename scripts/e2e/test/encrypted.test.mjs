// private-encrypted- channels end to end: the pusher SDK encrypts with
// encryptionMasterKeyBase64, the authorizer hands pusher-js the per-channel
// shared_secret, resound only relays, pusher-js (Node build: tweetnacl is
// bundled) decrypts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Env, subscribed, collector, quietFor, uid,
} from '../lib/harness.mjs';

let env;
before(async () => { env = await Env.create(); });
after(async () => { await env?.cleanup(); });

for (const broadcaster of ['reverb', 'pusher']) {
  test(`[${broadcaster}] Echo.encryptedPrivate().listen() decrypts events the server only relayed`, async () => {
    const echo = await env.echo({ broadcaster, user: { id: '5' } });
    const name = uid('vault.');
    const channel = `private-encrypted-${name}`;
    const got = collector();
    const ch = echo.encryptedPrivate(name).listen('.SecretShared', got);
    await subscribed(ch.subscription);
    const secret = { pin: '1234', text: 'the eagle has landed ✓' };
    const backend = env.backend();
    await backend.trigger(channel, 'SecretShared', secret);
    const [plain] = await got.wait(1, 5000, 'a decrypted event');
    assert.deepEqual(plain, secret);

    // What went over the wire was ciphertext, relayed untouched.
    const [wire] = echo.rec.events('SecretShared', channel);
    assert.ok(wire, 'the encrypted event reached the client');
    assert.equal(typeof wire.data.ciphertext, 'string');
    assert.equal(typeof wire.data.nonce, 'string');
    assert.ok(!JSON.stringify(wire).includes('eagle'), 'no plaintext on the wire');

    // triggerBatch encrypts per item as well.
    await backend.triggerBatch([{ channel, name: 'SecretShared', data: { n: 2 } }]);
    assert.deepEqual((await got.wait(2))[1], { n: 2 });
  });
}

test('an encrypted channel event cannot be read by a client holding another channel key', async () => {
  // Two subscribers on two different encrypted channels; an event for one is
  // never delivered to the other (server routing), and the subscriber of the
  // right channel decrypts it.
  const a = env.pusher({ user: { id: '1' } });
  const b = env.pusher({ user: { id: '2' } });
  const ca = await subscribed(a.subscribe(`private-encrypted-${uid('a-')}`));
  const cb = await subscribed(b.subscribe(`private-encrypted-${uid('b-')}`));
  const ga = collector();
  const gb = collector();
  ca.bind('e', ga);
  cb.bind('e', gb);
  await env.backend().trigger(ca.name, 'e', { to: 'a' });
  assert.deepEqual(await ga.wait(1), [{ to: 'a' }]);
  await quietFor(300, () => gb.items, 'event on another encrypted channel');
  // the authorizer was asked for a shared secret for both channels
  assert.ok(env.auth.requests.some((r) => r.channel === ca.name));
  assert.ok(env.auth.requests.some((r) => r.channel === cb.name));
});
