// A tiny stand-in for the Laravel app behind the demo room: serves the page,
// the npm packages' browser builds, /broadcasting/auth (signed with the pusher
// SDK) and POST /chat (broadcasts MessageSent with toOthers()).
//
// Standalone: node demo/server.mjs --resound 127.0.0.1:8080 [--port 8000]
//   (apps config: E2E_CONFIG=path or the suite's default app-1/key-1/secret-1)
// then open http://127.0.0.1:8000/login?user=1&name=Alice&room=lobby
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { handleAuth, DEFAULT_CONFIG, ENCRYPTION_MASTER_KEY_B64 } from '../lib/harness.mjs';

const require = createRequire(import.meta.url);
const DEMO = path.dirname(fileURLToPath(import.meta.url));
const Pusher = require('pusher');

const files = {
  '/': [path.join(DEMO, 'index.html'), 'text/html; charset=utf-8'],
  '/app.js': [path.join(DEMO, 'app.js'), 'text/javascript'],
  '/echo.js': [path.join(DEMO, 'echo.js'), 'text/javascript'],
  '/style.css': [path.join(DEMO, 'style.css'), 'text/css'],
  '/vendor/pusher-js/pusher.js': [require.resolve('pusher-js/dist/web/pusher.js'), 'text/javascript'],
  // the package's "import" export: dist/echo.js, an ES module with no imports
  '/vendor/laravel-echo/echo.js': [fileURLToPath(import.meta.resolve('laravel-echo')), 'text/javascript'],
};

function parseCookies(header = '') {
  return Object.fromEntries(header.split(';').map((c) => c.trim().split('=')).filter(([k]) => k).map(([k, ...v]) => [k, decodeURIComponent(v.join('='))]));
}

// app: {id,key,secret}; target: {host,port} of resound (what the browser and
// the back end talk to).
export async function startDemoServer({ app, target, port = 0 }) {
  const backend = new Pusher({
    appId: app.id, key: app.key, secret: app.secret,
    host: target.host, port: String(target.port), useTLS: false,
    encryptionMasterKeyBase64: ENCRYPTION_MASTER_KEY_B64, timeout: 5000,
  });
  const log = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const url = new URL(req.url, 'http://x');
      const session = parseCookies(req.headers.cookie);
      const user = session.demo_user ? JSON.parse(session.demo_user) : null;
      log.push({ method: req.method, path: url.pathname, user: user?.id, socketId: req.headers['x-socket-id'] });
      try {
        if (req.method === 'GET' && url.pathname === '/login') {
          // "logs in": sets the session cookie, then goes to the room
          const u = { id: url.searchParams.get('user') || '1', name: url.searchParams.get('name') || 'Guest' };
          res.writeHead(302, {
            'set-cookie': `demo_user=${encodeURIComponent(JSON.stringify(u))}; Path=/; HttpOnly; SameSite=Lax`,
            location: `/?room=${encodeURIComponent(url.searchParams.get('room') || 'lobby')}`,
          });
          res.end();
          return;
        }
        if (req.method === 'GET' && url.pathname === '/config.js') {
          if (!user) { res.writeHead(401); res.end('/* not logged in */'); return; }
          res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
          res.end(`window.VITE_ENV = ${JSON.stringify({
            VITE_REVERB_APP_KEY: app.key,
            VITE_REVERB_HOST: target.host,
            VITE_REVERB_PORT: target.port,
            VITE_REVERB_SCHEME: 'http',
          })};\nwindow.DEMO_USER = ${JSON.stringify(user)};\n`);
          return;
        }
        if (url.pathname === '/favicon.ico') { res.writeHead(204); res.end(); return; }
        if (req.method === 'GET' && files[url.pathname]) {
          const [file, type] = files[url.pathname];
          res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
          fs.createReadStream(file).pipe(res);
          return;
        }
        if (req.method === 'POST' && url.pathname === '/broadcasting/auth') {
          if (!user || req.headers['x-csrf-token'] !== 'demo-csrf-token') { res.writeHead(403); res.end('{}'); return; }
          const fakeReq = { headers: { ...req.headers, 'x-user-id': user.id, 'x-user-name': encodeURIComponent(user.name) } };
          const out = handleAuth(fakeReq, body, backend, app);
          res.writeHead(out.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(out.body));
          return;
        }
        if (req.method === 'POST' && url.pathname === '/chat') {
          if (!user) { res.writeHead(403); res.end('{}'); return; }
          const { room, text } = JSON.parse(body);
          const socketId = req.headers['x-socket-id'];
          await backend.trigger(`presence-chat.${room}`, 'App\\Events\\MessageSent', { user, text, at: Date.now() }, socketId ? { socket_id: socketId } : undefined);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{}');
          return;
        }
        res.writeHead(404);
        res.end('not found');
      } catch (e) {
        res.writeHead(500);
        res.end(String(e?.stack || e));
      }
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  const actual = server.address().port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    log,
    backend,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, def) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : def; };
  const [host, port] = arg('--resound', '127.0.0.1:8080').split(':');
  const config = process.env.E2E_CONFIG ? JSON.parse(fs.readFileSync(process.env.E2E_CONFIG, 'utf8')) : DEFAULT_CONFIG;
  const demo = await startDemoServer({ app: config.apps[0], target: { host, port: Number(port) }, port: Number(arg('--port', 8000)) });
  console.log(`demo on ${demo.url}/login?user=1&name=Alice&room=lobby`);
}
