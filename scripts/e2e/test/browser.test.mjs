// A real browser: Debian's Chromium driven by playwright-core opens the demo
// room (demo/) twice, as Alice and as Bob. Both join the same presence room,
// see each other, exchange a typing whisper, chat (toOthers), receive a
// server-triggered event, and Alice sees Bob leave. Screenshots go to
// artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Env, EXTERNAL, ARTIFACTS, uid } from '../lib/harness.mjs';
import { startDemoServer } from '../demo/server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const T = 10000; // every DOM wait

let env;
let demo;
const contexts = [];
const pageErrors = [];

before(async () => {
  env = await Env.create();
  demo = await startDemoServer({ app: env.app('app-1'), target: env.nextTarget() });
});

after(async () => {
  // close() kills the browser process; bounded in case Chromium is wedged
  // (playwright also kills its browsers when this process exits)
  for (const { ctx, userDataDir } of contexts) {
    await Promise.race([ctx.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  await demo?.close();
  await env?.cleanup();
});

async function launch() {
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'resound-chromium-'));
  // launchPersistentContext takes the user-data-dir explicitly (fresh per run);
  // each user gets its own browser profile, like two different people.
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 760, height: 520 },
    timeout: 30000,
  });
  contexts.push({ ctx, userDataDir });
  return { ctx, userDataDir };
}

async function open(ctx, user, room) {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => pageErrors.push(`${user.name}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${user.name} console: ${m.text()}`); });
  await page.goto(`${demo.url}/login?user=${user.id}&name=${encodeURIComponent(user.name)}&room=${room}`);
  await page.waitForSelector('#status[data-state="connected"]');
  await page.waitForSelector('body[data-joined="yes"]');
  return page;
}

const memberNames = (page) => page.$$eval('#members li', (lis) => lis.map((li) => li.textContent));
const messages = (page) => page.$$eval('#messages li', (lis) => lis.map((li) => li.textContent));

test('two Chromium pages join a presence room, see each other, whisper, chat and see leaving', {
  skip: !fs.existsSync(CHROMIUM) && `${CHROMIUM} is missing (run.sh installs Debian's chromium)`,
  timeout: 120000,
}, async () => {
  const room = uid('r');
  const a = await launch();
  const b = await launch();

  const alice = await open(a.ctx, { id: '1', name: 'Alice' }, room);
  const bob = await open(b.ctx, { id: '2', name: 'Bob' }, room);

  // who's here
  await alice.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
  await bob.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
  assert.deepEqual(await memberNames(alice), ['Alice', 'Bob']);
  assert.deepEqual(await memberNames(bob), ['Alice', 'Bob']);
  assert.equal(await alice.textContent('#count'), '2');
  await alice.waitForFunction(() => [...document.querySelectorAll('#messages li.system')].some((li) => li.textContent === 'Bob joined'));

  // typing indicator: Bob types, Alice sees it (a whisper through resound)
  await bob.fill('#text', 'Hi Al');
  await bob.type('#text', 'i');
  await alice.waitForFunction(() => document.querySelector('#typing').textContent === 'Bob is typing…');
  assert.equal(await bob.textContent('#typing'), '', 'Bob does not see his own whisper');

  // chat: Bob sends, the server broadcasts toOthers(): Alice gets it, Bob shows it once
  await bob.click('#send');
  await alice.waitForFunction(() => [...document.querySelectorAll('#messages li')].some((li) => li.textContent === 'BobHi Ali'));
  await alice.waitForFunction(() => document.querySelector('#typing').textContent === '');
  await alice.fill('#text', 'Hello Bob — ça va ?');
  await alice.press('#text', 'Enter');
  await bob.waitForFunction(() => [...document.querySelectorAll('#messages li')].some((li) => li.textContent === 'AliceHello Bob — ça va ?'));

  // a server-side event (e.g. from a queued job) reaches both pages
  await env.backend().trigger(`presence-chat.${room}`, 'App\\Events\\MessageSent', { user: { id: 'server', name: 'Server' }, text: 'Deploy finished' });
  for (const p of [alice, bob]) {
    await p.waitForFunction(() => [...document.querySelectorAll('#messages li.server')].some((li) => li.textContent === 'ServerDeploy finished'));
  }
  const aliceMsgs = await messages(alice);
  assert.equal(aliceMsgs.filter((m) => m === 'AliceHello Bob — ça va ?').length, 1, `toOthers(): Alice shows her message once: ${JSON.stringify(aliceMsgs)}`);
  const bobMsgs = await messages(bob);
  assert.equal(bobMsgs.filter((m) => m === 'BobHi Ali').length, 1, `toOthers(): Bob shows his message once: ${JSON.stringify(bobMsgs)}`);

  // the page went through the real auth endpoint with the Echo socket id
  assert.ok(demo.log.some((r) => r.path === '/broadcasting/auth' && r.user === '1'));
  assert.ok(demo.log.some((r) => r.path === '/chat' && /^\d+\.\d+$/.test(r.socketId || '')), 'X-Socket-ID sent with /chat');

  // screenshots (while both are in the room, Bob typing again)
  await bob.type('#text', 'one more thing');
  await alice.waitForFunction(() => document.querySelector('#typing').textContent === 'Bob is typing…');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await alice.screenshot({ path: path.join(ARTIFACTS, 'browser-alice.png') });
  await bob.screenshot({ path: path.join(ARTIFACTS, 'browser-bob.png') });

  // Bob closes his browser: Alice sees him leave
  await b.ctx.close();
  await alice.waitForFunction(() => document.querySelectorAll('#members li').length === 1);
  assert.deepEqual(await memberNames(alice), ['Alice']);
  await alice.waitForFunction(() => [...document.querySelectorAll('#messages li.system')].some((li) => li.textContent === 'Bob left'));
  await alice.screenshot({ path: path.join(ARTIFACTS, 'browser-alice-after-bob-left.png') });

  assert.deepEqual(pageErrors, [], 'no page errors or console errors');
});

test('the page reconnects and rejoins after the server restarts (pusher-js web build)', {
  skip: (!fs.existsSync(CHROMIUM) && `${CHROMIUM} is missing`) || (EXTERNAL && 'E2E_TARGETS set: the suite does not control the servers'),
  timeout: 120000,
}, async () => {
  const room = uid('r');
  const a = await launch();
  const page = await open(a.ctx, { id: '1', name: 'Alice' }, room);
  const firstSocket = await page.evaluate(() => window.Echo.socketId());

  await env.server.stop('SIGTERM');
  await page.waitForFunction(() => document.querySelector('#status').dataset.state !== 'connected');
  await env.server.start();
  // pusher-js retries a failed attempt after ~15 s
  await page.waitForFunction((old) => document.querySelector('#status').dataset.state === 'connected'
    && window.Echo.socketId() !== old, firstSocket, { timeout: 40000 });
  await page.waitForFunction(() => document.querySelectorAll('#members li').length === 1, null, { timeout: T });
  await env.backend().trigger(`presence-chat.${room}`, 'App\\Events\\MessageSent', { user: { id: 'server', name: 'Server' }, text: 'Back online' });
  await page.waitForFunction(() => [...document.querySelectorAll('#messages li.server')].some((li) => li.textContent === 'ServerBack online'));
  await page.screenshot({ path: path.join(ARTIFACTS, 'browser-after-restart.png') });
  assert.deepEqual(pageErrors.filter((e) => !/WebSocket connection to .* failed/.test(e)), [], 'no page errors (besides failed reconnect attempts)');
});
