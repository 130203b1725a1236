// Shared helpers for the Resound end-to-end suite.
//
// - spawns a real `resound start` per test file on a free loopback port (or,
//   with E2E_TARGETS="host:port,host:port", uses already running servers and
//   spreads clients across them round-robin);
// - runs a real Laravel-style authorizer endpoint (`/broadcasting/auth`) that
//   signs with the `pusher` npm SDK's authorizeChannel();
// - builds real pusher-js / laravel-echo clients (Node build of pusher-js,
//   which uses the faye-websocket client and bundles tweetnacl);
// - every wait has a timeout, every process and socket is closed in cleanup().

import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(E2E_DIR, '..', '..');
export const ARTIFACTS = path.join(E2E_DIR, 'artifacts');
fs.mkdirSync(ARTIFACTS, { recursive: true });

// pusher-js: the package "main" is the Node build (faye-websocket transport,
// tweetnacl bundled, so private-encrypted- channels work without the
// `pusher-js/with-encryption` entry, which is the *web* build and needs a DOM).
export const PusherJS = require('pusher-js');
export const PusherServer = require('pusher');

let EchoClass;
// laravel-echo 2.x's CommonJS build is rejected by Node 20: use the ESM build.
export async function loadEcho() {
  if (!EchoClass) EchoClass = (await import('laravel-echo')).default;
  return EchoClass;
}

// ---------------------------------------------------------------------------
// configuration

export const ENCRYPTION_MASTER_KEY_B64 = crypto.randomBytes(32).toString('base64');

export const DEFAULT_CONFIG = {
  apps: [
    {
      id: 'app-1', key: 'key-1', secret: 'secret-1', allowed_origins: ['*'],
      ping_interval: 60, activity_timeout: 30, max_message_size: 10000,
      max_connections: 0, accept_client_events_from: 'members',
    },
    {
      id: 'app-2', key: 'key-2', secret: 'secret-2', allowed_origins: ['*'],
      ping_interval: 60, activity_timeout: 30, max_message_size: 10000,
      max_connections: 0, accept_client_events_from: 'members',
    },
    // short heartbeats, for test/heartbeat.test.mjs: pusher-js pings (app-3),
    // the server pings (app-4)
    {
      id: 'app-3', key: 'key-3', secret: 'secret-3', allowed_origins: ['*'],
      ping_interval: 60, activity_timeout: 1, max_message_size: 10000,
      max_connections: 0, accept_client_events_from: 'members',
    },
    {
      id: 'app-4', key: 'key-4', secret: 'secret-4', allowed_origins: ['*'],
      ping_interval: 1, activity_timeout: 30, max_message_size: 10000,
      max_connections: 0, accept_client_events_from: 'members',
    },
  ],
};

export const EXTERNAL = !!process.env.E2E_TARGETS;

function loadExternalConfig() {
  if (process.env.E2E_CONFIG_JSON) return JSON.parse(process.env.E2E_CONFIG_JSON);
  if (process.env.E2E_CONFIG) return JSON.parse(fs.readFileSync(process.env.E2E_CONFIG, 'utf8'));
  throw new Error('E2E_TARGETS is set: provide the apps config the targets run with via E2E_CONFIG (path) or E2E_CONFIG_JSON');
}

export function appById(config, id) {
  const app = config.apps.find((a) => a.id === id);
  if (!app) throw new Error(`app ${id} is not in the config`);
  return app;
}

// ---------------------------------------------------------------------------
// small async utilities (all with timeouts)

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(pred, { timeout = 5000, interval = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await pred();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const extra = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${extra}`);
    }
    await sleep(interval);
  }
}

// The HTTP API's queries (/channels, /channels/{c}, /users, /connections) may
// lag a change by up to ~1 s on a cluster (E2E_TARGETS); one server answers at
// once. `settled(get, check)` calls get() until check(value) stops throwing
// (assertions), then returns the value; after `timeout` it throws check's last
// error, so the failure shows the last answer.
export async function settled(get, check, { timeout = 3000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await get();
    try {
      check(value);
      return value;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await sleep(interval);
  }
}

// Resolves with the callback's argument(s) the first time `register(cb)` fires.
export function nextCall(register, { timeout = 5000, what = 'callback' } = {}) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for ${what}`)), timeout);
    register((...args) => { clearTimeout(t); resolve(args.length > 1 ? args : args[0]); });
  });
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function uid(prefix = 'x') {
  return `${prefix}${crypto.randomBytes(4).toString('hex')}`;
}

async function httpGetJSON(url, timeout = 1000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------
// the server under test

export function resoundBin() {
  const bin = process.env.RESOUND_BIN || path.join(REPO, 'bin', 'resound');
  if (!fs.existsSync(bin)) {
    if (process.env.RESOUND_BIN) throw new Error(`RESOUND_BIN=${bin} does not exist`);
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    execFileSync('go', ['build', '-o', bin, './cmd/resound'], { cwd: REPO, stdio: 'inherit' });
  }
  return bin;
}

const liveProcs = new Set();
const killAll = () => {
  for (const p of liveProcs) { try { p.kill('SIGKILL'); } catch { /* gone */ } }
};
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAll(); process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)); });
}

export async function waitUp(host, port, timeout = 15000, proc) {
  await waitFor(async () => {
    if (proc && proc.exitCode !== null) throw new Error(`resound exited with code ${proc.exitCode} before /up answered`);
    const r = await httpGetJSON(`http://${host}:${port}/up`);
    if (r.status !== 200) return false;
    const j = JSON.parse(r.body);
    return j.health === 'OK';
  }, { timeout, interval: 100, what: `GET http://${host}:${port}/up → 200 {"health":"OK"}` });
}

// A resound process that can be stopped with a signal and started again on
// the same port.
export class ResoundServer {
  constructor({ config = DEFAULT_CONFIG, port, name = 'server' } = {}) {
    this.config = config;
    this.host = '127.0.0.1';
    this.port = port;
    this.name = name;
    this.proc = null;
    this.starts = 0;
  }

  get target() { return `${this.host}:${this.port}`; }

  async start() {
    if (!this.port) this.port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resound-e2e-'));
    this.cfgPath = path.join(dir, 'cfg.json');
    fs.writeFileSync(this.cfgPath, JSON.stringify(this.config, null, 2));
    const args = ['start', '--host', this.host, '--port', String(this.port), '--config', this.cfgPath];
    if (process.env.E2E_SERVER_DEBUG) args.push('--debug');
    this.starts++;
    this.logPath = path.join(ARTIFACTS, 'logs', `${this.name}-${this.port}-${this.starts}.log`);
    fs.mkdirSync(path.dirname(this.logPath), { recursive: true });
    const log = fs.openSync(this.logPath, 'w');
    const proc = spawn(resoundBin(), args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.proc = proc;
    liveProcs.add(proc);
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => { liveProcs.delete(proc); resolve({ code, signal }); }));
    await waitUp(this.host, this.port, 15000, proc);
    return this;
  }

  // Sends `signal` and waits for the process to exit (SIGKILL after `timeout`).
  async stop(signal = 'SIGTERM', timeout = 10000) {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return { code: proc?.exitCode, signal: proc?.signalCode };
    proc.kill(signal);
    const killer = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, timeout);
    const res = await this.exited;
    clearTimeout(killer);
    this.proc = null;
    return res;
  }

  log() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; }
  }
}

// ---------------------------------------------------------------------------
// the environment of one test file

export class Env {
  constructor() {
    this.servers = [];
    this.targets = [];
    this.rr = 0;
    this.cleanups = [];
    this.recs = [];
  }

  static async create({ config } = {}) {
    const env = new Env();
    if (EXTERNAL) {
      env.config = loadExternalConfig();
      env.targets = process.env.E2E_TARGETS.split(',').map((s) => s.trim()).filter(Boolean).map((t) => {
        const i = t.lastIndexOf(':');
        return { host: t.slice(0, i), port: Number(t.slice(i + 1)) };
      });
      for (const t of env.targets) await waitUp(t.host, t.port);
    } else {
      env.config = config || DEFAULT_CONFIG;
      const name = path.basename(process.argv[1] || 'test').replace(/\.test\.mjs$/, '');
      const srv = await new ResoundServer({ config: env.config, name }).start();
      env.servers.push(srv);
      env.targets = [{ host: srv.host, port: srv.port }];
    }
    env.auth = await startAuthServer(env);
    return env;
  }

  get server() { return this.servers[0]; }

  app(id = 'app-1') { return appById(this.config, id); }

  nextTarget() {
    const t = this.targets[this.rr % this.targets.length];
    this.rr++;
    return t;
  }

  // The `pusher` npm SDK, the back end of a Laravel app.
  backend({ app = 'app-1', agent, target } = {}) {
    const a = this.app(app);
    const t = target || this.nextTarget();
    return new PusherServer({
      appId: a.id, key: a.key, secret: a.secret,
      host: t.host, port: String(t.port), useTLS: false,
      encryptionMasterKeyBase64: ENCRYPTION_MASTER_KEY_B64,
      timeout: 5000,
      ...(agent ? { agent } : {}),
    });
  }

  // A pusher-js client (Node build). `user` = {id, name} is sent to the
  // authorizer endpoint as headers.
  pusher({ app = 'app-1', user, target, options = {} } = {}) {
    const a = this.app(app);
    const t = target || this.nextTarget();
    const client = new PusherJS(a.key, {
      cluster: 'mt1',
      wsHost: t.host, wsPort: t.port, wssPort: t.port, forceTLS: false,
      enabledTransports: ['ws'],
      channelAuthorization: {
        endpoint: this.auth.url(app),
        transport: 'ajax',
        headers: userHeaders(user),
      },
      ...options,
    });
    const rec = record(client);
    this.recs.push(rec);
    this.cleanups.push(() => client.disconnect());
    return Object.assign(client, { rec, target: t, user });
  }

  // A laravel-echo client on top of pusher-js, configured the way
  // resources/js/echo.js does it.
  async echo({ app = 'app-1', user, target, broadcaster = 'reverb', options = {} } = {}) {
    const Echo = await loadEcho();
    const a = this.app(app);
    const t = target || this.nextTarget();
    const echo = new Echo({
      broadcaster,
      key: a.key,
      ...(broadcaster === 'pusher' ? { cluster: 'mt1' } : {}),
      wsHost: t.host, wsPort: t.port, wssPort: t.port,
      forceTLS: false,
      enabledTransports: ['ws'],
     
      Pusher: PusherJS,
      authEndpoint: this.auth.url(app),
      auth: { headers: userHeaders(user) },
      ...options,
    });
    const client = echo.connector.pusher;
    const rec = record(client);
    this.recs.push(rec);
    this.cleanups.push(() => echo.disconnect());
    return Object.assign(echo, { client, rec, target: t, user });
  }

  async cleanup() {
    for (const c of this.cleanups.splice(0).reverse()) { try { await c(); } catch { /* best effort */ } }
    if (this.auth) await this.auth.close();
    for (const s of this.servers) await s.stop('SIGTERM');
    // every frame any client received must have been valid Pusher JSON
    const bad = this.recs.flatMap((r) => r.errors.filter((e) => e?.type === 'MessageParseError'));
    if (bad.length) throw new Error(`pusher-js could not parse ${bad.length} frame(s), e.g. ${JSON.stringify(bad[0].data)}`);
  }
}

function userHeaders(user) {
  if (!user) return {};
  return { 'X-User-Id': String(user.id), 'X-User-Name': encodeURIComponent(user.name ?? `user ${user.id}`) };
}

// Records every message the client actually received, in order.
export function record(client) {
  const rec = { messages: [], states: [], errors: [] };
  client.connection.bind('message', (m) => rec.messages.push({ at: Date.now(), ...m }));
  client.connection.bind('state_change', (s) => rec.states.push({ at: Date.now(), ...s }));
  client.connection.bind('error', (e) => rec.errors.push(e));
  rec.find = (pred) => rec.messages.filter(pred);
  rec.events = (event, channel) => rec.messages.filter((m) => m.event === event && (channel === undefined || m.channel === channel));
  return rec;
}

export async function connected(client, timeout = 10000) {
  const conn = client.connection;
  if (conn.state === 'connected') return conn.socket_id;
  await nextCall((cb) => conn.bind('connected', cb), { timeout, what: `pusher-js to reach "connected" (state ${conn.state})` });
  return conn.socket_id;
}

// Waits for pusher:subscription_succeeded (or fails on subscription_error).
export function subscribed(channel, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for subscription_succeeded on ${channel.name}`)), timeout);
    if (channel.subscribed) { clearTimeout(t); resolve(channel); return; }
    channel.bind('pusher:subscription_succeeded', () => { clearTimeout(t); resolve(channel); });
    channel.bind('pusher:subscription_error', (e) => { clearTimeout(t); reject(new Error(`subscription_error on ${channel.name}: ${JSON.stringify(e)}`)); });
  });
}

// Collects what a callback receives: `items` holds the first argument of each
// call (the event data), `calls` the whole argument lists (data, metadata).
export function collector() {
  const items = [];
  const calls = [];
  const fn = (...args) => { calls.push(args); items.push(args[0]); };
  fn.items = items;
  fn.calls = calls;
  fn.wait = (n = 1, timeout = 5000, what = 'events') => waitFor(() => items.length >= n && items, { timeout, what: `${n} ${what} (got ${items.length})` });
  return fn;
}

// Asserts that nothing matching `pred` arrives for `ms` milliseconds.
export async function quietFor(ms, pred, what = 'message') {
  await sleep(ms);
  const got = pred();
  if (got && (got.length === undefined || got.length > 0)) {
    throw new Error(`expected no ${what}, got ${JSON.stringify(got)}`);
  }
}

// ---------------------------------------------------------------------------
// a Laravel-style /broadcasting/auth endpoint, signing with the pusher SDK

export async function startAuthServer(env) {
  const requests = [];
  const sdk = {};
  const sdkFor = (appId) => {
    if (!sdk[appId]) sdk[appId] = env.backend({ app: appId, target: env.targets[0] });
    return sdk[appId];
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      const m = url.pathname.match(/^\/apps\/([^/]+)\/broadcasting\/auth$/) || (url.pathname === '/broadcasting/auth' && [null, 'app-1']);
      if (!m || req.method !== 'POST') { res.writeHead(404); res.end('not found'); return; }
      const handled = handleAuth(req, body, sdkFor(m[1]), env.app(m[1]), requests);
      res.writeHead(handled.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(handled.body));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port,
    requests,
    url: (app = 'app-1') => `http://127.0.0.1:${port}/apps/${app}/broadcasting/auth`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

// The authorization policy of the fake Laravel app:
// - channels containing "forbidden" are refused by the app (403);
// - channels containing "badsig" get a 200 with a signature made with the wrong
//   secret, so the *server* must reject the subscription;
// - presence channels get channel_data {user_id, user_info:{name}}.
export function handleAuth(req, rawBody, sdk, app, requests = []) {
  const ct = req.headers['content-type'] || '';
  const params = ct.includes('application/json') ? JSON.parse(rawBody || '{}') : Object.fromEntries(new URLSearchParams(rawBody));
  const socketId = params.socket_id;
  const channel = params.channel_name;
  const userId = req.headers['x-user-id'];
  const userName = req.headers['x-user-name'] ? decodeURIComponent(req.headers['x-user-name']) : undefined;
  requests.push({ socketId, channel, userId });
  if (!socketId || !channel) return { status: 422, body: { message: 'socket_id and channel_name are required' } };
  if (channel.includes('forbidden')) return { status: 403, body: { message: 'This action is unauthorized.' } };
  let presenceData;
  if (channel.startsWith('presence-')) {
    if (!userId) return { status: 403, body: { message: 'no user' } };
    presenceData = { user_id: userId, user_info: { id: userId, name: userName } };
  }
  if (channel.includes('badsig')) {
    const wrong = new PusherServer({ appId: app.id, key: app.key, secret: `${app.secret}-WRONG`, host: '127.0.0.1' });
    return { status: 200, body: wrong.authorizeChannel(socketId, channel, presenceData) };
  }
  return { status: 200, body: sdk.authorizeChannel(socketId, channel, presenceData) };
}
