// permessage-deflate: the `ws` client with perMessageDeflate negotiates it,
// receives compressed events and inflates them; a client without it gets
// plain frames from the same broadcast; compressed client messages are
// inflated by the server; headless Chromium negotiates it on its own (every
// browser offers it) and receives events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { Env, EXTERNAL, uid, waitFor } from '../lib/harness.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

let env;
const closers = [];
before(async () => { env = await Env.create(); });
after(async () => {
  for (const close of closers) await close();
  await env?.cleanup();
});

// A raw Pusher-protocol socket over `ws`, recording every message.
async function rawSocket(perMessageDeflate) {
  const t = env.nextTarget();
  const ws = new WebSocket(`ws://${t.host}:${t.port}/app/${env.app('app-1').key}?protocol=7&client=js&version=8.4.0`, { perMessageDeflate });
  closers.push(() => ws.terminate());
  const messages = [];
  let extensions = '';
  ws.once('upgrade', (res) => { extensions = res.headers['sec-websocket-extensions'] || ''; });
  ws.on('message', (data, isBinary) => messages.push(JSON.parse(isBinary ? data : data.toString('utf8'))));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  await waitFor(() => messages.some((m) => m.event === 'pusher:connection_established'), { what: 'connection_established' });
  const next = async (event, channel) => {
    await waitFor(() => messages.some((m) => m.event === event && (!channel || m.channel === channel)), { what: event });
    return messages.find((m) => m.event === event && (!channel || m.channel === channel));
  };
  const subscribe = async (channel) => {
    ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
    await next('pusher_internal:subscription_succeeded', channel);
  };
  return { ws, messages, next, subscribe, extensions, bytesRead: () => ws._socket.bytesRead };
}

// A 2 KB order list, the size of a typical Laravel event with a model in it.
function orders(n = 2048) {
  const items = [];
  for (let i = 0; JSON.stringify(items).length < n; i++) items.push({ id: i, sku: `A-${i % 13}`, status: 'shipped', carrier: 'post' });
  return { items };
}

test('ws with perMessageDeflate inflates compressed events; a plain client gets the same broadcast plain', async () => {
  // threshold 0: this client compresses everything it sends, so the
  // server's inflating of client messages is exercised too
  const z = await rawSocket({ threshold: 0 });
  const plain = await rawSocket(false);
  assert.equal(z.ws.extensions, 'permessage-deflate', 'ws took the extension');
  assert.match(z.extensions, /^permessage-deflate/, `answered: ${z.extensions}`);
  assert.match(z.extensions, /server_no_context_takeover/);
  assert.match(z.extensions, /client_no_context_takeover/);
  assert.equal(plain.extensions, '', 'nothing negotiated for the plain client');

  const channel = uid('orders-');
  await z.subscribe(channel);
  await plain.subscribe(channel);
  z.ws.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
  await z.next('pusher:pong');

  const before = { z: z.bytesRead(), plain: plain.bytesRead() };
  const data = orders();
  await env.backend().trigger(channel, 'order.shipped', data);
  const got = await z.next('order.shipped', channel);
  const gotPlain = await plain.next('order.shipped', channel);
  assert.deepEqual(JSON.parse(got.data), data);
  assert.deepEqual(JSON.parse(gotPlain.data), data);
  const wire = { z: z.bytesRead() - before.z, plain: plain.bytesRead() - before.plain };
  assert.ok(wire.plain > 2048, `plain frame of ${wire.plain} bytes`);
  assert.ok(wire.z * 3 < wire.plain, `compressed frame of ${wire.z} bytes vs ${wire.plain} plain: the deflate socket got the compressed twin`);

  // several events in a row, each compressed on its own (no context takeover)
  for (let i = 0; i < 5; i++) await env.backend().trigger(channel, 'order.updated', { i, ...orders(1024 + i * 500) });
  await waitFor(() => z.messages.filter((m) => m.event === 'order.updated').length === 5, { what: '5 events' });
  assert.deepEqual(z.messages.filter((m) => m.event === 'order.updated').map((m) => JSON.parse(m.data).i), [0, 1, 2, 3, 4]);
});

test('a compressed client message over max_message_size once inflated closes with 1009', async () => {
  const z = await rawSocket({ threshold: 0 });
  const closed = new Promise((resolve) => z.ws.once('close', (code) => resolve(code)));
  // 1 MB of the same byte: a few KB compressed, 100 times max_message_size inflated
  z.ws.send(JSON.stringify({ event: 'client-x', channel: 'private-x', data: 'a'.repeat(1 << 20) }));
  assert.equal(await closed, 1009);
});

test('headless Chromium negotiates permessage-deflate and receives events', {
  skip: (!fs.existsSync(CHROMIUM) && `${CHROMIUM} is missing (run.sh installs Debian's chromium)`) || (EXTERNAL && 'E2E_TARGETS set'),
  timeout: 60000,
}, async () => {
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'resound-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
  closers.push(async () => {
    await Promise.race([ctx.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
    fs.rmSync(userDataDir, { recursive: true, force: true });
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(10000);
  // DevTools reports frames already inflated, so the negotiated extension
  // is what this test checks; the ws test above checks the wire bytes.
  const t = env.nextTarget();
  const channel = uid('browser-');
  const url = `ws://${t.host}:${t.port}/app/${env.app('app-1').key}?protocol=7&client=js&version=8.4.0`;
  const extensions = await page.evaluate(({ url, channel }) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    window.received = [];
    ws.onerror = () => reject(new Error('WebSocket error'));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      window.received.push(m);
      if (m.event === 'pusher:connection_established') ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
      if (m.event === 'pusher_internal:subscription_succeeded') resolve(ws.extensions);
    };
  }), { url, channel });
  assert.match(extensions, /^permessage-deflate/, `Chromium negotiated: ${extensions}`);
  assert.match(extensions, /server_no_context_takeover/);
  assert.match(extensions, /client_no_context_takeover/);

  const data = orders();
  await env.backend().trigger(channel, 'order.shipped', data);
  await page.waitForFunction(() => window.received.some((m) => m.event === 'order.shipped'));
  const got = await page.evaluate(() => window.received.find((m) => m.event === 'order.shipped'));
  assert.equal(got.channel, channel);
  assert.deepEqual(JSON.parse(got.data), data);
});
