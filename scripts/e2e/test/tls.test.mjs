// TLS, the two ways a deployment runs it, with the real clients:
// - Debian's nginx terminates TLS with deploy/nginx-resound.conf (the site
//   shipped for production, given a test port, certificate and upstream) in
//   front of a plain Resound;
// - Resound terminates TLS itself (--tls-cert/--tls-key).
// Both times pusher-js connects with forceTLS: true (wss://) and the `pusher`
// SDK calls the HTTP API over https://, verifying the self-signed
// certificate made here. nginx and openssl are installed when missing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import {
  PusherJS, PusherServer, EXTERNAL, REPO, ARTIFACTS, DEFAULT_CONFIG, resoundBin, freePort, waitFor,
  connected, subscribed, collector, uid, record,
} from '../lib/harness.mjs';

// pusher-js's Node transport takes no CA option, so its wss:// connections
// accept the test certificate through this; the SDK below verifies it
// against the CA explicitly (rejectUnauthorized: true).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const app = DEFAULT_CONFIG.apps[0];
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'resound-tls-e2e-'));
const procs = [];

function install(pkg) {
  const sudo = process.getuid() === 0 ? [] : ['sudo', '-n'];
  const run = (args) => execFileSync(sudo[0] || args[0], [...sudo.slice(1), ...(sudo.length ? args : args.slice(1))],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', pkg]);
}

function nginxBin() {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (fs.existsSync(p)) return p;
  install('nginx');
  return '/usr/sbin/nginx';
}

// A self-signed certificate for 127.0.0.1 (the openssl CLI).
function makeCert() {
  if (!fs.existsSync('/usr/bin/openssl')) install('openssl');
  const cert = path.join(work, 'cert.pem');
  const key = path.join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { cert, key, ca: fs.readFileSync(cert) };
}

function spawnLogged(name, bin, args) {
  const logPath = path.join(ARTIFACTS, 'logs', `tls-${name}.log`);
  fs.mkdirSync(path.dirname(logPath), { recursive: true });
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(bin, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  proc.logPath = logPath;
  procs.push(proc);
  return proc;
}

function httpsGet(port, pathname, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: pathname, ca, rejectUnauthorized: true, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitHTTPSUp(port, ca, proc) {
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`process exited with ${proc.exitCode}: see ${proc.logPath}`);
    const r = await httpsGet(port, '/up', ca);
    return r.status === 200 && JSON.parse(r.body).health === 'OK';
  }, { timeout: 15000, interval: 100, what: `GET https://127.0.0.1:${port}/up` });
}

async function startResound(extra = []) {
  const port = await freePort();
  const cfg = path.join(work, `cfg-${port}.json`);
  fs.writeFileSync(cfg, JSON.stringify({ apps: [app] }));
  const proc = spawnLogged(`resound-${port}`, resoundBin(),
    ['start', '--host', '127.0.0.1', '--port', String(port), '--config', cfg, ...extra]);
  return { port, proc };
}

// deploy/nginx-resound.conf with the test's port, certificate and upstream;
// every edit must match, so a change to the site that the test no longer
// understands fails here instead of testing something else.
function siteFor({ port, upstream, cert, key }) {
  let site = fs.readFileSync(path.join(REPO, 'deploy', 'nginx-resound.conf'), 'utf8');
  const edit = (re, to) => {
    assert.equal((site.match(re) || []).length, 1, `deploy/nginx-resound.conf: expected one match of ${re}`);
    site = site.replace(re, to);
  };
  edit(/^\s*listen 443 ssl;$/m, `    listen 127.0.0.1:${port} ssl;`);
  edit(/^\s*listen \[::\]:443 ssl;$/m, '');
  edit(/^\s*ssl_certificate\s+\S+;$/m, `    ssl_certificate ${cert};`);
  edit(/^\s*ssl_certificate_key\s+\S+;$/m, `    ssl_certificate_key ${key};`);
  edit(/^\s*server 127\.0\.0\.1:8080;$/m, `    server 127.0.0.1:${upstream};`);
  return site;
}

// nginx as the current user, with its prefix, config, pid and temp files
// in a private directory: nothing under /etc or /var is touched.
async function startNginx(site, port, ca) {
  const dir = fs.mkdtempSync(path.join(work, 'nginx-'));
  fs.writeFileSync(path.join(dir, 'site.conf'), site);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${path.join(dir, t)};`).join('\n');
  const user = process.getuid() === 0 ? 'user root root;\n' : '';
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `${user}worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
${temp}
  include ${path.join(dir, 'site.conf')};
}
`);
  const proc = spawnLogged('nginx', nginxBin(), ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log'), '-g', 'daemon off;']);
  await waitHTTPSUp(port, ca, proc);
  return proc;
}

// The same clients and checks against an https:// / wss:// port.
function clientChecks(label, target) {
  describe(label, () => {
    const clients = [];
    let sdk;
    before(() => {
      const { port, ca } = target();
      sdk = new PusherServer({
        appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port), useTLS: true,
        agent: new https.Agent({ ca, rejectUnauthorized: true }), timeout: 5000,
      });
    });
    after(() => { for (const c of clients) c.disconnect(); });

    const pusher = () => {
      const { port } = target();
      const client = new PusherJS(app.key, {
        cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, wssPort: port, forceTLS: true,
        enabledTransports: ['ws', 'wss'],
        channelAuthorization: {
          customHandler: ({ socketId, channelName }, cb) => cb(null, sdk.authorizeChannel(socketId, channelName)),
        },
      });
      record(client);
      clients.push(client);
      return client;
    };

    test('pusher-js over wss:// gets events the pusher SDK publishes over https://', async () => {
      const a = pusher();
      await connected(a);
      // Both ports speak only TLS, so being connected means wss:// worked.
      assert.equal(a.connection.isUsingTLS(), true, 'pusher-js did not use wss://');
      const channel = uid('tls-');
      const got = collector();
      (await subscribed(a.subscribe(channel))).bind('Shipped', got);
      const res = await sdk.trigger(channel, 'Shipped', { order: 7 });
      assert.equal(res.status, 200);
      assert.deepEqual(await got.wait(1), [{ order: 7 }]);
      const info = await (await sdk.get({ path: `/channels/${channel}`, params: { info: 'subscription_count' } })).json();
      assert.equal(info.occupied, true);
      assert.equal(info.subscription_count, 1);
    });

    test('private channel authorisation and a whisper between two wss:// sockets', async () => {
      const a = pusher();
      const b = pusher();
      await Promise.all([connected(a), connected(b)]);
      const channel = `private-${uid('tls-')}`;
      const got = collector();
      (await subscribed(a.subscribe(channel))).bind('client-typing', got);
      const chB = await subscribed(b.subscribe(channel));
      assert.equal(chB.trigger('client-typing', { who: 'b' }), true);
      assert.deepEqual(await got.wait(1), [{ who: 'b' }]);
    });
  });
}

describe('TLS', { skip: EXTERNAL && 'starts its own servers (E2E_TARGETS given)' }, () => {
  let certs;
  let nginxPort;
  let builtinPort;

  before(async () => {
    certs = makeCert();
    const plain = await startResound();
    nginxPort = await freePort();
    await startNginx(siteFor({ port: nginxPort, upstream: plain.port, ...certs }), nginxPort, certs.ca);
    const tls = await startResound(['--tls-cert', certs.cert, '--tls-key', certs.key]);
    builtinPort = tls.port;
    await waitHTTPSUp(builtinPort, certs.ca, tls.proc);
  });

  after(async () => {
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGINT'); // resound: drain without drain_delay; nginx: fast shutdown
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  clientChecks('through nginx with deploy/nginx-resound.conf', () => ({ port: nginxPort, ca: certs.ca }));
  clientChecks('Resound\'s built-in TLS', () => ({ port: builtinPort, ca: certs.ca }));
});
