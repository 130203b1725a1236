package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeServer is a deliberately simple Pusher-protocol server (a goroutine
// per connection, net/http for the API) that lets the bench be tested end to
// end without the real server. It checks what a real server checks: channel
// auth, API signatures and body_md5, and never echoes client events.
type fakeServer struct {
	t        *testing.T
	app      app
	ln       net.Listener
	srv      *http.Server
	mu       sync.Mutex
	channels map[string]map[*fakeConn]bool
	nextID   atomic.Int64
	conns    atomic.Int64
	badAuth  atomic.Int64
}

type fakeConn struct {
	mu       sync.Mutex
	c        net.Conn
	socketID string
}

func startFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{t: t, app: app{ID: "bench", Key: "bench-key", Secret: "bench-secret"}, ln: ln,
		channels: map[string]map[*fakeConn]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{key}", fs.serveWS)
	mux.HandleFunc("POST /apps/{id}/events", fs.serveEvents)
	mux.HandleFunc("GET /up", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"health":"OK"}`) })
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(map[string]int64{"rss_bytes": selfRSS(), "heap_inuse_bytes": int64(ms.HeapInuse),
			"heap_objects": int64(ms.HeapObjects), "stack_inuse_bytes": int64(ms.StackInuse),
			"goroutines": int64(runtime.NumGoroutine()), "connections": fs.conns.Load()})
	})
	fs.srv = &http.Server{Handler: mux}
	go fs.srv.Serve(ln)
	t.Cleanup(func() { fs.srv.Close() })
	return fs
}

func (fs *fakeServer) addr() string { return fs.ln.Addr().String() }

func (fs *fakeServer) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("key") != fs.app.Key {
		http.Error(w, "no app", 404)
		return
	}
	hj := w.(http.Hijacker)
	c, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	brw.Flush()
	fc := &fakeConn{c: c, socketID: fmt.Sprintf("%d.%d", 1000+fs.nextID.Add(1), 42)}
	fs.conns.Add(1)
	defer fs.conns.Add(-1)
	est, _ := json.Marshal(map[string]any{"socket_id": fc.socketID, "activity_timeout": 120})
	fc.sendJSON(map[string]any{"event": "pusher:connection_established", "data": string(est)})
	defer fs.unsubscribeAll(fc)
	fs.readLoop(fc, brw.Reader)
}

func (fc *fakeConn) send(payload []byte) {
	f := serverTextFrame(payload)
	fc.mu.Lock()
	fc.c.Write(f)
	fc.mu.Unlock()
}

func (fc *fakeConn) sendJSON(v any) {
	b, _ := json.Marshal(v)
	fc.send(b)
}

func (fs *fakeServer) readLoop(fc *fakeConn, br *bufio.Reader) {
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := br.Read(tmp)
		if err != nil {
			return
		}
		buf = append(buf, tmp[:n]...)
		for {
			f, used, err := parseFrame(buf)
			if err != nil || (used > 0 && buf[1]&0x80 == 0) {
				fs.t.Errorf("fake server: bad client frame (unmasked or invalid): %v", err)
				return
			}
			if used == 0 {
				break
			}
			switch f.opcode {
			case opText:
				fs.onMessage(fc, f.payload)
			case opClose:
				return
			}
			buf = buf[used:]
		}
	}
}

func (fs *fakeServer) onMessage(fc *fakeConn, msg []byte) {
	var m struct {
		Event   string          `json:"event"`
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return
	}
	switch {
	case m.Event == "pusher:subscribe":
		var d struct{ Channel, Auth, Channel_data string }
		json.Unmarshal(m.Data, &d)
		if strings.HasPrefix(d.Channel, "private-") || strings.HasPrefix(d.Channel, "presence-") {
			if d.Auth != channelAuth(fs.app, fc.socketID, d.Channel, d.Channel_data) {
				fs.badAuth.Add(1)
				fc.sendJSON(map[string]any{"event": "pusher:error", "data": `{"code":4009,"message":"Connection is unauthorized"}`})
				return
			}
		}
		fs.mu.Lock()
		if fs.channels[d.Channel] == nil {
			fs.channels[d.Channel] = map[*fakeConn]bool{}
		}
		fs.channels[d.Channel][fc] = true
		fs.mu.Unlock()
		fc.sendJSON(map[string]any{"event": "pusher_internal:subscription_succeeded", "channel": d.Channel, "data": "{}"})
	case m.Event == "pusher:ping":
		fc.sendJSON(map[string]any{"event": "pusher:pong"})
	case strings.HasPrefix(m.Event, "client-"):
		out, _ := json.Marshal(map[string]any{"event": m.Event, "channel": m.Channel, "data": m.Data})
		for _, o := range fs.members(m.Channel) {
			if o != fc {
				o.send(out)
			}
		}
	}
}

func (fs *fakeServer) members(ch string) []*fakeConn {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []*fakeConn
	for c := range fs.channels[ch] {
		out = append(out, c)
	}
	return out
}

func (fs *fakeServer) unsubscribeAll(fc *fakeConn) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, m := range fs.channels {
		delete(m, fc)
	}
}

// serveEvents verifies the request signature exactly as documented and
// fans the event out to the channel's subscribers.
func (fs *fakeServer) serveEvents(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	sum := md5.Sum(body)
	if q.Get("body_md5") != hex.EncodeToString(sum[:]) || q.Get("auth_key") != fs.app.Key {
		http.Error(w, "bad md5/key", 401)
		return
	}
	var keys []string
	for k := range q {
		if k != "auth_signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+q.Get(k))
	}
	want := hmacHex(fs.app.Secret, "POST\n"+r.URL.Path+"\n"+strings.Join(parts, "&"))
	if !hmac.Equal([]byte(want), []byte(q.Get("auth_signature"))) {
		http.Error(w, "Authentication signature invalid.", 401)
		return
	}
	var ev struct {
		Name     string   `json:"name"`
		Data     string   `json:"data"`
		Channels []string `json:"channels"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "bad body", 400)
		return
	}
	for _, ch := range ev.Channels {
		out, _ := json.Marshal(map[string]any{"event": ev.Name, "channel": ch, "data": ev.Data})
		for _, c := range fs.members(ch) {
			c.send(out)
		}
	}
	io.WriteString(w, "{}")
}
