// Headless Chromium: two pages signed in as different users (pusher-js's
// browser build, signin() through a user authentication endpoint signed by
// the `pusher` SDK) watch each other: each sees the other come online, and
// the first sees the second go offline when its page closes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Env, uid } from '../lib/harness.mjs';

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const T = 10000; // every page wait

let env;
let site;
let browser;
let userDataDir;

before(async () => {
  env = await Env.create();
  site = await startSite(env);
});

after(async () => {
  if (browser) await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  await site?.close();
  await env?.cleanup();
});

const PAGE = (app, target) => `<!doctype html><meta charset="utf-8"><title>users</title>
<script src="/pusher.js"></script>
<body data-signed-in="no"><ul id="events"></ul>
<script>
  const q = new URLSearchParams(location.search);
  const pusher = new Pusher(${JSON.stringify(app.key)}, {
    cluster: 'mt1', wsHost: ${JSON.stringify(target.host)}, wsPort: ${target.port}, forceTLS: false,
    enabledTransports: ['ws'],
    userAuthentication: { endpoint: '/user-auth?user=' + q.get('user') + '&watch=' + q.get('watch') },
  });
  const log = (text) => { const li = document.createElement('li'); li.textContent = text; document.getElementById('events').append(li); };
  pusher.user.watchlist.bind('online', (e) => log('online ' + e.user_ids.join(',')));
  pusher.user.watchlist.bind('offline', (e) => log('offline ' + e.user_ids.join(',')));
  pusher.signin();
  pusher.user.signinDonePromise.then(() => { if (pusher.user.user_data) document.body.dataset.signedIn = 'yes'; });
</script>`;

async function startSite(env) {
  const app = env.app('app-1');
  const target = env.nextTarget();
  const sdk = env.backend({ target });
  const pusherJS = fs.readFileSync(require.resolve('pusher-js/dist/web/pusher.js'));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/pusher.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(pusherJS);
      return;
    }
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE(app, target));
      return;
    }
    if (url.pathname === '/user-auth' && req.method === 'POST') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const socketId = new URLSearchParams(body).get('socket_id');
        const user = { id: url.searchParams.get('user'), watchlist: url.searchParams.get('watch').split(',') };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(sdk.authenticateUser(socketId, user)));
      });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

const events = (page) => page.$$eval('#events li', (lis) => lis.map((li) => li.textContent));

async function waitEvents(page, want) {
  await page.waitForFunction((n) => document.querySelectorAll('#events li').length >= n, want.length, { timeout: T });
  assert.deepEqual(await events(page), want);
}

test('two Chromium pages signed in as different users watch each other', {
  skip: !fs.existsSync(CHROMIUM) && `${CHROMIUM} is missing (run.sh installs Debian's chromium)`,
  timeout: 120000,
}, async () => {
  const { chromium } = await import('playwright-core');
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'resound-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
  const alice = uid('alice');
  const bob = uid('bob');
  const pageA = browser.pages()[0] || await browser.newPage();
  await pageA.goto(`${site.url}/?user=${alice}&watch=${bob}`);
  await pageA.waitForSelector('body[data-signed-in="yes"]', { state: 'attached', timeout: T });

  const pageB = await browser.newPage();
  await pageB.goto(`${site.url}/?user=${bob}&watch=${alice}`);
  await pageB.waitForSelector('body[data-signed-in="yes"]', { state: 'attached', timeout: T });

  await waitEvents(pageB, [`online ${alice}`]);
  await waitEvents(pageA, [`online ${bob}`]);
  await pageB.close();
  await waitEvents(pageA, [`online ${bob}`, `offline ${bob}`]);
});
