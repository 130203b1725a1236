package main

// The tests in this package build the real resound binary, start it as a
// process on a free loopback port and talk to it over real sockets.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary_ string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "resound-test")
	if err != nil {
		panic(err)
	}
	binary_ = filepath.Join(dir, "resound")
	build := exec.Command("go", "build", "-race", "-o", binary_, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Println("building resound:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type server struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	appID     = "app-1"
	appKey    = "key-1"
	appSecret = "secret-1"
)

// defaultApps is the config most tests use.
const defaultApps = `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"]}]}`

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs resound with the JSON config and extra flags.
func startServer(t *testing.T, config string, args ...string) *server {
	t.Helper()
	return startServerEnv(t, config, nil, args...)
}

// spawn runs argv (the binary, or a wrapper such as prlimit around it) with
// env added to a minimal environment, its output in s.logs. At the test's
// end it stops the process and fails the test on a race or a panic in the
// log. It does not wait for the server to answer.
func spawn(t *testing.T, addr string, argv, env []string) *server {
	t.Helper()
	s := &server{t: t, addr: addr, logs: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0 halt_on_error=0"}, env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log (%s, env %v):\n%s", s.addr, env, s.logs.String())
		}
		if strings.Contains(s.logs.String(), "DATA RACE") || strings.Contains(s.logs.String(), "panic:") {
			t.Errorf("server reported a race or panic:\n%s", s.logs.String())
		}
	})
	return s
}

// stop uses SIGINT, which skips drain_delay (SIGTERM waits it out).
func (s *server) stop() { stopProcessWith(s.cmd, s.done, syscall.SIGINT) }

// stopProcess sends SIGTERM to a process the tests started and waits for it
// (done closes when it exited), killing it after 10 s.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}) {
	stopProcessWith(cmd, done, syscall.SIGTERM)
}

func stopProcessWith(cmd *exec.Cmd, done <-chan struct{}, sig os.Signal) {
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
	}
	resp, err := http.Get("http://" + s.addr + "/up")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// frame is one WebSocket frame read from the server.
type frame struct {
	op      byte
	fin     bool
	payload []byte
}

// message is a decoded Pusher message.
type message struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  json.RawMessage `json:"user_id"`
}

// dataString returns the data field, decoding it when it is a JSON string.
func (m message) dataString() string {
	var s string
	if json.Unmarshal(m.Data, &s) == nil {
		return s
	}
	return string(m.Data)
}

// dataObject decodes data (a JSON string holding an object, or an object).
func (m message) dataObject(t *testing.T) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(m.dataString()), &out); err != nil {
		t.Fatalf("data of %s is not an object: %s", m.Event, m.Data)
	}
	return out
}

// client is a WebSocket client written for the tests, so they control every
// byte: handshakes in pieces, fragments, bad frames.
type client struct {
	t        *testing.T
	conn     net.Conn
	r        *bufio.Reader
	socketID string
}

func handshake(path, extra string) string {
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// rawDial sends the handshake and reads the HTTP response head.
func rawDial(t *testing.T, s *server, path, extra string) (*client, string) {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if _, err := conn.Write([]byte(handshake(path, extra))); err != nil {
		t.Fatal(err)
	}
	return c, c.readHead()
}

func (c *client) readHead() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading handshake response: %v (got %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String()
		}
	}
}

var socketIDRe = regexp.MustCompile(`^\d+\.\d+$`)

// dial connects to app key and waits for pusher:connection_established.
func dial(t *testing.T, s *server) *client {
	t.Helper()
	return dialKey(t, s, appKey, "")
}

func dialKey(t *testing.T, s *server, key, extra string) *client {
	t.Helper()
	c, head := rawDial(t, s, "/app/"+key+"?protocol=7&client=js&version=8.4.0", extra)
	if !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("handshake refused: %q", head)
	}
	m := c.expect("pusher:connection_established")
	d := m.dataObject(t)
	c.socketID, _ = d["socket_id"].(string)
	if !socketIDRe.MatchString(c.socketID) {
		t.Fatalf("socket_id %q does not match ^\\d+\\.\\d+$", c.socketID)
	}
	if at, _ := d["activity_timeout"].(float64); at <= 0 {
		t.Fatalf("activity_timeout must be positive, got %v", d["activity_timeout"])
	}
	return c
}

// writeFrame sends a masked client frame.
func (c *client) writeFrame(op byte, fin bool, payload []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(clientFrame(op, fin, payload)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func clientFrame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	mask := []byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, mask...)
	for i, p := range payload {
		out = append(out, p^mask[i%4])
	}
	return out
}

func (c *client) send(v any) {
	c.t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	default:
		b, _ = json.Marshal(x)
	}
	c.writeFrame(0x1, true, b)
}

// readFrame reads one server frame within d.
func (c *client) readFrame(d time.Duration) (frame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return frame{}, err
	}
	if h[1]&0x80 != 0 {
		return frame{}, fmt.Errorf("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.r, b[:]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.r, b[:]); err != nil {
			return frame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return frame{}, err
	}
	return frame{op: h[0] & 0x0f, fin: h[0]&0x80 != 0, payload: p}, nil
}

// next returns the next text message, failing on anything else.
func (c *client) next(d time.Duration) message {
	c.t.Helper()
	f, err := c.readFrame(d)
	if err != nil {
		c.t.Fatalf("waiting for a message: %v", err)
	}
	if f.op != 0x1 {
		c.t.Fatalf("expected a text frame, got opcode %d payload %q", f.op, f.payload)
	}
	var m message
	if err := json.Unmarshal(f.payload, &m); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", f.payload, err)
	}
	return m
}

// expect reads messages until one has the event name; others are failures
// unless they are listed in skip.
func (c *client) expect(event string, skip ...string) message {
	c.t.Helper()
	for {
		m := c.next(5 * time.Second)
		if m.Event == event {
			return m
		}
		skipped := false
		for _, s := range skip {
			skipped = skipped || s == m.Event
		}
		if !skipped {
			c.t.Fatalf("expected %s, got %s on %q: %s", event, m.Event, m.Channel, m.Data)
		}
	}
}

// expectNothing asserts no frame arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	f, err := c.readFrame(d)
	if err == nil {
		c.t.Fatalf("expected silence, got opcode %d %q", f.op, f.payload)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		c.t.Fatalf("expected silence, connection failed: %v", err)
	}
}

// expectClose reads until a close frame and returns its code.
func (c *client) expectClose() int {
	c.t.Helper()
	for {
		f, err := c.readFrame(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for close frame: %v", err)
		}
		if f.op == 0x8 {
			if len(f.payload) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(f.payload))
		}
	}
}

// expectError reads a pusher:error and returns its code and message.
func (c *client) expectError() (int, string) {
	c.t.Helper()
	m := c.expect("pusher:error")
	d := m.dataObject(c.t)
	code, _ := d["code"].(float64)
	msg, _ := d["message"].(string)
	return int(code), msg
}

// ping proves the socket is still served.
func (c *client) ping() {
	c.t.Helper()
	c.send(`{"event":"pusher:ping","data":{}}`)
	c.expect("pusher:pong")
}

func (c *client) subscribe(channel string) message {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": channel, "auth": c.auth(channel, "")}})
	return c.expect("pusher_internal:subscription_succeeded")
}

func (c *client) join(channel, channelData string) message {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": channel, "auth": c.auth(channel, channelData), "channel_data": channelData}})
	return c.expect("pusher_internal:subscription_succeeded")
}

func (c *client) auth(channel, channelData string) string {
	if !strings.HasPrefix(channel, "private-") && !strings.HasPrefix(channel, "presence-") {
		return ""
	}
	return appKey + ":" + sign(appSecret, c.socketID+":"+channel+suffix(channelData))
}

func suffix(channelData string) string {
	if channelData == "" {
		return ""
	}
	return ":" + channelData
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
