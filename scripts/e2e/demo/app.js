// A live room: who's here (presence), chat (server events, toOthers) and a
// typing indicator (whispers).
import Echo from './echo.js';

const me = window.DEMO_USER; // set by /config.js from the "session" cookie
const room = new URLSearchParams(location.search).get('room') || 'lobby';
const $ = (sel) => document.querySelector(sel);
$('#room').textContent = room;
$('#me').textContent = `signed in as ${me.name}`;

const members = new Map();
function renderMembers() {
  const ul = $('#members');
  ul.replaceChildren(...[...members.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((u) => {
      const li = document.createElement('li');
      li.dataset.id = u.id;
      li.textContent = u.name;
      if (String(u.id) === String(me.id)) li.classList.add('me');
      return li;
    }));
  $('#count').textContent = String(members.size);
}

function addMessage({ who, text, kind }) {
  const li = document.createElement('li');
  if (kind) li.classList.add(kind);
  if (who) {
    const b = document.createElement('span');
    b.className = 'who';
    b.textContent = who;
    li.append(b);
  }
  li.append(document.createTextNode(text));
  $('#messages').append(li);
  li.scrollIntoView();
}

// connection status
const connection = Echo.connector.pusher.connection;
connection.bind('state_change', ({ current }) => {
  $('#status').dataset.state = current;
  $('#status').textContent = current;
});

// typing indicator: shows "<name> is typing…" for 3 s after each whisper
const typers = new Map();
function renderTyping() {
  const names = [...typers.keys()];
  $('#typing').textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
}

const channel = Echo.join(`chat.${room}`)
  .here((users) => {
    members.clear();
    users.forEach((u) => members.set(String(u.id), u));
    renderMembers();
    document.body.dataset.joined = 'yes';
  })
  .joining((u) => {
    members.set(String(u.id), u);
    renderMembers();
    addMessage({ text: `${u.name} joined`, kind: 'system' });
  })
  .leaving((u) => {
    members.delete(String(u.id));
    typers.delete(u.name);
    renderMembers();
    renderTyping();
    addMessage({ text: `${u.name} left`, kind: 'system' });
  })
  .listen('MessageSent', (e) => {
    addMessage({ who: e.user.name, text: e.text, kind: e.user.id === 'server' ? 'server' : undefined });
    typers.delete(e.user.name);
    renderTyping();
  })
  .listenForWhisper('typing', (e) => {
    clearTimeout(typers.get(e.name));
    if (e.typing) typers.set(e.name, setTimeout(() => { typers.delete(e.name); renderTyping(); }, 3000));
    else typers.delete(e.name);
    renderTyping();
  })
  .error((err) => addMessage({ text: `subscription error: ${JSON.stringify(err)}`, kind: 'system' }));

let lastWhisper = 0;
$('#text').addEventListener('input', () => {
  if (Date.now() - lastWhisper < 1000) return;
  lastWhisper = Date.now();
  channel.whisper('typing', { name: me.name, typing: true });
});

$('#composer').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = $('#text').value.trim();
  if (!text) return;
  $('#text').value = '';
  lastWhisper = 0;
  channel.whisper('typing', { name: me.name, typing: false });
  addMessage({ who: me.name, text, kind: 'mine' });
  // like axios with Echo's interceptor: X-Socket-ID makes the server's
  // broadcast(...)->toOthers() skip this tab
  const res = await fetch('/chat', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Socket-ID': Echo.socketId(),
      'X-CSRF-TOKEN': document.querySelector('meta[name="csrf-token"]').content,
    },
    body: JSON.stringify({ room, text }),
  });
  if (!res.ok) addMessage({ text: `send failed: ${res.status}`, kind: 'system' });
});

window.demo = { channel, members };
