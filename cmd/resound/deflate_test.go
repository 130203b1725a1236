package main

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The permessage-deflate offer a browser sends.
const deflateOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"

const deflateAccepted = "Sec-WebSocket-Extensions: permessage-deflate;server_no_context_takeover;client_no_context_takeover\r\n"

// dialDeflate connects offering permessage-deflate and reports whether the
// server accepted it.
func dialDeflate(t *testing.T, s *server, key string) (*client, bool) {
	t.Helper()
	c, head := rawDial(t, s, "/app/"+key+"?protocol=7&client=js&version=8.4.0", deflateOffer)
	if !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("handshake refused: %q", head)
	}
	accepted := strings.Contains(head, deflateAccepted)
	if !accepted && strings.Contains(strings.ToLower(head), "sec-websocket-extensions") {
		t.Fatalf("an extension answer other than the one expected: %q", head)
	}
	m := c.expect("pusher:connection_established")
	c.socketID, _ = m.dataObject(t)["socket_id"].(string)
	return c, accepted
}

// wireFrame is a server frame with its RSV1 bit and exact bytes on the wire.
type wireFrame struct {
	op         byte
	compressed bool
	payload    []byte
	wireBytes  int
}

func (c *client) readWireFrame(d time.Duration) wireFrame {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	n, size := uint64(h[1]&0x7f), 2
	if n >= 126 {
		ext := make([]byte, map[uint64]int{126: 2, 127: 8}[n])
		if _, err := io.ReadFull(c.r, ext); err != nil {
			c.t.Fatalf("reading a frame length: %v", err)
		}
		size += len(ext)
		if len(ext) == 2 {
			n = uint64(binary.BigEndian.Uint16(ext))
		} else {
			n = binary.BigEndian.Uint64(ext)
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		c.t.Fatalf("reading a frame payload: %v", err)
	}
	return wireFrame{op: h[0] & 0x0f, compressed: h[0]&0x40 != 0, payload: p, wireBytes: size + int(n)}
}

// inflateMessage decompresses a permessage-deflate payload as a client
// does, with the standard library.
func inflateMessage(t *testing.T, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflating a server message: %v", err)
	}
	return out
}

// deflateMessage compresses a client message without context takeover.
func deflateMessage(t *testing.T, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// writeCompressed sends a masked frame with RSV1 set.
func (c *client) writeCompressed(op byte, fin bool, payload []byte) {
	c.t.Helper()
	f := clientFrame(op, fin, payload)
	f[0] |= 0x40
	if _, err := c.conn.Write(f); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func bigEventData(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(`{"id":` + itoaTest(i) + `,"status":"shipped","carrier":"post"},`)
	}
	return "[" + strings.TrimSuffix(b.String(), ",") + "]"
}

func itoaTest(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestDeflateOneBroadcastCompressedAndPlain(t *testing.T) {
	s := startServer(t, defaultApps)
	z1, ok1 := dialDeflate(t, s, appKey)
	z2, ok2 := dialDeflate(t, s, appKey)
	if !ok1 || !ok2 {
		t.Fatal("permessage-deflate offered by a browser-like client was not accepted")
	}
	plain := dial(t, s)
	for _, c := range []*client{z1, z2, plain} {
		c.subscribe("orders")
	}

	data := bigEventData(2048)
	trigger(t, s, "orders", "order.shipped", data, "")
	want := plain.readWireFrame(5 * time.Second)
	if want.compressed || want.op != 0x1 {
		t.Fatalf("the client without deflate got op %d compressed %v", want.op, want.compressed)
	}
	var m message
	if err := json.Unmarshal(want.payload, &m); err != nil || m.Event != "order.shipped" || m.dataString() != data {
		t.Fatalf("plain client got %q", want.payload)
	}
	got1, got2 := z1.readWireFrame(5*time.Second), z2.readWireFrame(5*time.Second)
	for _, got := range []wireFrame{got1, got2} {
		if !got.compressed || got.op != 0x1 {
			t.Fatalf("a deflate socket got op %d compressed %v for a 2 KB event", got.op, got.compressed)
		}
		if inflated := inflateMessage(t, got.payload); !bytes.Equal(inflated, want.payload) {
			t.Fatalf("inflated %q, the plain socket got %q", inflated, want.payload)
		}
		if got.wireBytes*2 > want.wireBytes {
			t.Fatalf("compressed frame of %d bytes for a %d-byte plain one", got.wireBytes, want.wireBytes)
		}
	}
	if !bytes.Equal(got1.payload, got2.payload) {
		t.Fatal("two deflate sockets got different bytes for one broadcast")
	}

	// Under compression_min_bytes (512) everyone gets the plain frame.
	trigger(t, s, "orders", "small", `{"id":1}`, "")
	for _, c := range []*client{z1, plain} {
		if f := c.readWireFrame(5 * time.Second); f.compressed || !strings.Contains(string(f.payload), `"small"`) {
			t.Fatalf("small event: compressed %v, %q", f.compressed, f.payload)
		}
	}
}

func TestDeflateClientMessagesAreInflated(t *testing.T) {
	s := startServer(t, defaultApps)
	c, ok := dialDeflate(t, s, appKey)
	if !ok {
		t.Fatal("deflate not negotiated")
	}
	c.writeCompressed(0x1, true, deflateMessage(t, []byte(`{"event":"pusher:ping","data":{}}`)))
	c.expect("pusher:pong")

	// A compressed message in three fragments, RSV1 on the first only,
	// with a ping in between.
	sub := deflateMessage(t, []byte(`{"event":"pusher:subscribe","data":{"channel":"fragmented"}}`))
	c.writeCompressed(0x1, false, sub[:5])
	c.writeFrame(0x9, true, []byte("mid"))
	c.writeFrame(0x0, false, sub[5:10])
	c.writeFrame(0x0, true, sub[10:])
	if f := c.readWireFrame(5 * time.Second); f.op != 0xA || string(f.payload) != "mid" {
		t.Fatalf("pong: op %d %q", f.op, f.payload)
	}
	if m := c.expect("pusher_internal:subscription_succeeded"); m.Channel != "fragmented" {
		t.Fatalf("subscribed to %q", m.Channel)
	}
	// Plain messages still work on a deflate socket.
	c.ping()
}

func TestDeflateBadClientMessagesClose(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","max_message_size":1000}]}`)
	bomb := deflateMessage(t, make([]byte, 20<<20))
	exactly := deflateMessage(t, []byte(`{"event":"pusher:ping","data":"`+strings.Repeat("a", 1000-33)+`"}`))
	cases := []struct {
		name string
		send func(c *client)
		code int
	}{
		{"a 20 MB bomb in a small frame", func(c *client) { c.writeCompressed(0x1, true, bomb) }, 1009},
		{"one byte over the limit once inflated", func(c *client) {
			c.writeCompressed(0x1, true, deflateMessage(t, []byte(`{"event":"pusher:ping","data":"`+strings.Repeat("a", 1001-33)+`"}`)))
		}, 1009},
		{"not DEFLATE data", func(c *client) { c.writeCompressed(0x1, true, []byte{0xff, 0xfe, 0xfd}) }, 1007},
		{"invalid UTF-8 once inflated", func(c *client) { c.writeCompressed(0x1, true, deflateMessage(t, []byte{'{', 0xff, '}'})) }, 1007},
		{"RSV1 on a continuation", func(c *client) {
			c.writeCompressed(0x1, false, deflateMessage(t, []byte("{")))
			c.writeCompressed(0x0, true, []byte("x"))
		}, 1002},
		{"RSV1 on a ping", func(c *client) { c.writeCompressed(0x9, true, nil) }, 1002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := dialDeflate(t, s, appKey)
			if !ok {
				t.Fatal("deflate not negotiated")
			}
			c.t = t
			tc.send(c)
			if code := c.expectClose(); code != tc.code {
				t.Fatalf("closed with %d, want %d", code, tc.code)
			}
		})
	}
	// A message of exactly max_message_size once inflated is accepted.
	c, _ := dialDeflate(t, s, appKey)
	c.writeCompressed(0x1, true, exactly)
	c.expect("pusher:pong")
	// A socket that did not negotiate deflate may not send RSV1.
	p := dial(t, s)
	p.writeCompressed(0x1, true, deflateMessage(t, []byte(`{"event":"pusher:ping","data":{}}`)))
	if code := p.expectClose(); code != 1002 {
		t.Fatalf("RSV1 without deflate closed with %d, want 1002", code)
	}
}

func TestDeflateConfig(t *testing.T) {
	const apps = `"apps":[
		{"id":"app-1","key":"key-1","secret":"secret-1"},
		{"id":"app-2","key":"key-2","secret":"secret-2","compression":false},
		{"id":"app-3","key":"key-3","secret":"secret-3","compression_min_bytes":64}]`
	s := startServer(t, "{"+apps+"}")
	if _, ok := dialDeflate(t, s, "key-1"); !ok {
		t.Fatal("app-1 (default) did not negotiate deflate")
	}
	if _, ok := dialDeflate(t, s, "key-2"); ok {
		t.Fatal(`app-2 ("compression": false) negotiated deflate`)
	}
	c3, ok := dialDeflate(t, s, "key-3")
	if !ok {
		t.Fatal("app-3 did not negotiate deflate")
	}
	c3.subscribe("orders")
	body := `{"name":"e","channel":"orders","data":` + jsonString(bigEventData(100)) + `}`
	req := signedURLAs(appCreds{id: "app-3", key: "key-3", secret: "secret-3"}, s.addr, "POST", "/apps/app-3/events", nil, body)
	resp, err := http.Post(req, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
	if f := c3.readWireFrame(5 * time.Second); !f.compressed {
		t.Fatalf("a %d-byte event over compression_min_bytes 64 went out plain", len(f.payload))
	}

	off := startServer(t, `{"compression":false,`+apps+`}`)
	for _, key := range []string{"key-1", "key-3"} {
		if _, ok := dialDeflate(t, off, key); ok {
			t.Fatalf(`%s negotiated deflate with "compression": false at the top`, key)
		}
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// A deflate socket that stops reading has its compressed frames queued in
// the server (the kernel buffers fill up first); once it reads again it gets
// every event, compressed, in order.
func TestDeflateSlowReaderGetsEveryCompressedEventInOrder(t *testing.T) {
	s := startServer(t, defaultApps)
	c, ok := dialDeflate(t, s, appKey)
	if !ok {
		t.Fatal("deflate not negotiated")
	}
	_ = c.conn.(*net.TCPConn).SetReadBuffer(4096)
	c.subscribe("backlog")
	// Events of 6 KB that compress about 3.7x (random words from a list of
	// 128): 400 of them are ~650 KB compressed, more than the kernel
	// buffers of both ends hold (~260 KB), so the rest waits in the
	// server's queue; as plain frames (2.4 MB) they would pass
	// max_outbound_bytes (1 MiB) and the socket would be cut off.
	words := make([]string, 128)
	for i := range words {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		words[i] = fmt.Sprintf("%x", b)
	}
	const events = 400
	pick := make([]byte, 2000)
	for i := range events {
		_, _ = rand.Read(pick)
		var rows strings.Builder
		for j := 0; rows.Len() < 6000; j++ {
			rows.WriteString(words[int(pick[j])%len(words)] + " ")
		}
		trigger(t, s, "backlog", "e", fmt.Sprintf(`{"i":%d,"rows":%q}`, i, rows.String()), "")
	}
	_ = c.conn.(*net.TCPConn).SetReadBuffer(1 << 20) // read at full speed now
	for i := range events {
		f := c.readWireFrame(10 * time.Second)
		if !f.compressed {
			t.Fatalf("event %d came plain: %.200q", i, f.payload)
		}
		var m message
		if err := json.Unmarshal(inflateMessage(t, f.payload), &m); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var d struct{ I int }
		if err := json.Unmarshal([]byte(m.dataString()), &d); err != nil || d.I != i {
			t.Fatalf("event %d in position %d (%v)", d.I, i, err)
		}
	}
}

// A cache channel replays its last event to a late deflate subscriber as
// the compressed frame kept with it.
func TestDeflateCacheReplayIsCompressed(t *testing.T) {
	s := startServer(t, defaultApps)
	early, ok := dialDeflate(t, s, appKey)
	if !ok {
		t.Fatal("deflate not negotiated")
	}
	early.subscribe("cache-orders")
	early.expect("pusher:cache_miss")
	data := bigEventData(2048)
	trigger(t, s, "cache-orders", "order.shipped", data, "")
	first := early.readWireFrame(5 * time.Second)

	late, _ := dialDeflate(t, s, appKey)
	late.subscribe("cache-orders")
	replay := late.readWireFrame(5 * time.Second)
	if !first.compressed || !replay.compressed {
		t.Fatalf("compressed: live %v, replay %v", first.compressed, replay.compressed)
	}
	var m message
	if err := json.Unmarshal(inflateMessage(t, replay.payload), &m); err != nil || m.Event != "order.shipped" || m.dataString() != data {
		t.Fatalf("replay: %v %s", err, m.Event)
	}
}

// In a cluster the node that holds the sockets compresses what the bus
// brings it, and a cache channel replayed from Redis on another node is
// compressed too.
func TestClusterDeflate(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, 2, clusterConfig(r, "resound", 3, defaultAppList))
	z, ok := dialDeflate(t, nodes[1], appKey)
	if !ok {
		t.Fatal("deflate not negotiated")
	}
	plain := dial(t, nodes[1])
	z.subscribe("cache-orders")
	z.expect("pusher:cache_miss")
	plain.subscribe("cache-orders")
	plain.expect("pusher:cache_miss")

	data := bigEventData(2048)
	trigger(t, nodes[0], "cache-orders", "order.shipped", data, "")
	if f := plain.readWireFrame(10 * time.Second); f.compressed {
		t.Fatal("the plain socket got a compressed frame")
	}
	live := z.readWireFrame(10 * time.Second)
	if !live.compressed {
		t.Fatal("a deflate socket on another node than the publisher's got a plain frame")
	}

	late, _ := dialDeflate(t, nodes[0], appKey) // node 0 has no subscriber: it replays from Redis
	late.subscribe("cache-orders")
	replay := late.readWireFrame(10 * time.Second)
	if !replay.compressed {
		t.Fatal("the replay from Redis came plain")
	}
	for _, f := range []wireFrame{live, replay} {
		var m message
		if err := json.Unmarshal(inflateMessage(t, f.payload), &m); err != nil || m.Event != "order.shipped" || m.dataString() != data {
			t.Fatalf("inflated %v %s", err, m.Event)
		}
	}
}
