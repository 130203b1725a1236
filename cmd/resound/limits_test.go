package main

// Process-level tests for staying up at the limits: the open-file limit,
// the server-wide connection cap, the handshake timeout, IPv6 listening and
// the drain on SIGTERM.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// launch starts resound like startServer, on host (127.0.0.1 when empty),
// optionally under an open-file limit set with prlimit.
func launch(t *testing.T, config, host string, nofile int) *server {
	t.Helper()
	if host == "" {
		host = "127.0.0.1"
	}
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	args := []string{binary_, "start", "--host", host, "--port", fmt.Sprint(port), "--config", cfgPath}
	if nofile > 0 {
		args = append([]string{"prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--"}, args...)
	}
	s := spawn(t, net.JoinHostPort(host, fmt.Sprint(port)), args, nil)
	eventually(t, 10*time.Second, "server answers /up", func() (bool, string) {
		status, body, err := oneShot(s, "GET", "/up", "")
		return err == nil && status == 200, fmt.Sprint(status, body, err)
	})
	return s
}

// oneShot makes one request on its own connection, closed afterwards, so
// no idle client connection lingers to count against the server's cap.
func oneShot(s *server, method, path, body string) (int, string, error) {
	c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	k := &keepAlive{conn: c, r: bufio.NewReader(c), addr: s.addr}
	return k.do(method, path, body, true)
}

// keepAlive is one HTTP connection the test keeps open and reuses, as a load
// balancer's health checker or Laravel's HTTP client would.
type keepAlive struct {
	conn net.Conn
	r    *bufio.Reader
	addr string
}

func openKeepAlive(t *testing.T, s *server) *keepAlive {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{conn: c, r: bufio.NewReader(c), addr: s.addr}
}

// do sends path (signed when it is under /apps/) and reads the response.
func (k *keepAlive) do(method, path, body string, closeAfter bool) (int, string, error) {
	url := "http://" + k.addr + path
	if strings.HasPrefix(path, "/apps/") {
		url = signedURL(k.addr, method, path, nil, body)
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Close = closeAfter
	_ = k.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := req.Write(k.conn); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(k.r, req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (k *keepAlive) must(t *testing.T, method, path, body string, want int) string {
	t.Helper()
	status, resp, err := k.do(method, path, body, false)
	if err != nil || status != want {
		t.Fatalf("%s %s on a kept-alive connection: %d %q %v; want %d", method, path, status, resp, err, want)
	}
	return resp
}

// tryDial opens a socket without failing the test: false when the server
// did not complete the handshake.
func tryDial(s *server) bool {
	c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(handshake("/app/"+appKey+"?protocol=7", ""))); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "HTTP/1.1 101")
}

func publishBody(channel, event string) string {
	return fmt.Sprintf(`{"name":%q,"channel":%q,"data":"{}"}`, event, channel)
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// At the open-file limit accept fails with EMFILE. The server must back off
// and carry on: sockets keep their events and pings, kept-alive HTTP still
// answers, and new connections work again once the flood leaves.
func TestOpenFileLimitFloodKeepsServing(t *testing.T) {
	// The cap is lifted so the flood really reaches EMFILE.
	s := launch(t, `{"max_total_connections":100000,"handshake_timeout":60,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"]}]}`, "", 128)
	witness := dial(t, s)
	witness.subscribe("witness")
	ka := openKeepAlive(t, s)
	ka.must(t, "GET", "/up", "", 200)

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 250 {
		c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
		if err != nil {
			break // the listen backlog is full: that is saturated enough
		}
		flood = append(flood, c)
	}
	eventually(t, 15*time.Second, "the server logs EMFILE on accept", func() (bool, string) {
		return strings.Contains(s.logs.String(), "accept failed: EMFILE"), fmt.Sprintf("%d flood connections", len(flood))
	})

	ka.must(t, "POST", "/apps/"+appID+"/events", publishBody("witness", "while-saturated"), 200)
	if m := witness.expect("while-saturated"); m.Channel != "witness" {
		t.Fatalf("event on channel %q", m.Channel)
	}
	witness.ping()
	ka.must(t, "GET", "/up", "", 200)
	if s.exited() {
		t.Fatalf("the server exited at the open-file limit")
	}

	for _, c := range flood {
		c.Close()
	}
	flood = nil
	eventually(t, 15*time.Second, "new sockets connect after the flood left", func() (bool, string) {
		return tryDial(s), ""
	})
	fresh := dial(t, s)
	fresh.subscribe("witness")
	ka.must(t, "POST", "/apps/"+appID+"/events", publishBody("witness", "after-flood"), 200)
	witness.expect("after-flood")
	fresh.expect("after-flood")
	if s.exited() {
		t.Fatalf("the server exited")
	}
}

// Every TCP connection counts toward max_total_connections: a socket, an
// API keep-alive and a connection that sent nothing. The next one is told
// why in a 503 and closed; once one leaves, connecting works again.
func TestTotalConnectionCapRefusesWith503(t *testing.T) {
	s := launch(t, `{"max_total_connections":3,"handshake_timeout":60,"expose_stats":true,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"]}]}`, "", 0)
	// The kept-alive connection asks, until it is the only connection the
	// server counts. A connection opened just to ask would itself be
	// counted until the server has handled its close, which on a busy
	// machine can come after the next connections arrive.
	var ka *keepAlive
	eventually(t, 5*time.Second, "a kept-alive connection is the only one open", func() (bool, string) {
		if ka == nil {
			ka = openKeepAlive(t, s)
		}
		status, body, err := ka.do("GET", "/stats", "", false)
		if err != nil || status != 200 { // refused while earlier connections still counted: a new one
			ka.conn.Close()
			ka = nil
			return false, fmt.Sprintf("%d %q %v", status, body, err)
		}
		var st struct{ Connections int }
		_ = json.Unmarshal([]byte(body), &st)
		return st.Connections == 1, body
	})
	socket := dial(t, s)
	ka.must(t, "GET", "/up", "", 200)
	silent, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	over, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(over)
	if err != nil {
		t.Fatalf("reading the refusal: %v (got %q)", err, got)
	}
	resp := string(got)
	if !strings.HasPrefix(resp, "HTTP/1.1 503 ") || !strings.Contains(resp, "\r\nRetry-After: 5\r\n") ||
		!strings.Contains(resp, "Server full: max_total_connections (3) reached") {
		t.Fatalf("over the cap the client got %q; want a 503 with Retry-After naming max_total_connections", resp)
	}

	socket.ping()
	ka.must(t, "GET", "/up", "", 200)
	silent.Close()
	eventually(t, 10*time.Second, "a socket connects once a connection left", func() (bool, string) {
		return tryDial(s), ""
	})
	if !strings.Contains(s.logs.String(), "max_total_connections (3) reached") {
		t.Fatalf("the refusal was not logged")
	}
}

// A connection that does not send a complete first request within
// handshake_timeout is answered 408 and closed; a kept-alive API connection
// that already made a request is not.
func TestHandshakeTimeoutClosesSilentConnections(t *testing.T) {
	s := launch(t, `{"handshake_timeout":1,"request_timeout":30,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"]}]}`, "", 0)
	ka := openKeepAlive(t, s)
	ka.must(t, "GET", "/up", "", 200)
	socket := dial(t, s)

	start := time.Now()
	silent, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	partial, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	if _, err := partial.Write([]byte("GET /app/key-1 HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]net.Conn{"silent": silent, "half a head": partial} {
		_ = c.SetReadDeadline(time.Now().Add(8 * time.Second))
		got, err := io.ReadAll(c)
		took := time.Since(start)
		if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 408 ") || !strings.Contains(string(got), "Handshake timeout") {
			t.Fatalf("%s connection: %q %v; want a 408 naming the handshake timeout, then close", name, got, err)
		}
		if took < 900*time.Millisecond || took > 5*time.Second {
			t.Fatalf("%s connection closed after %s; handshake_timeout is 1 s", name, took)
		}
	}
	ka.must(t, "GET", "/up", "", 200)
	socket.ping()
}

// --host ::1 listens on IPv6 loopback.
func TestListenOnIPv6Loopback(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	probe.Close()
	s := launch(t, defaultApps, "::1", 0)
	if !strings.HasPrefix(s.addr, "[::1]:") {
		t.Fatalf("address %s", s.addr)
	}
	c := dial(t, s)
	c.subscribe("v6")
	trigger(t, s, "v6", "hello", "{}", "")
	c.expect("hello")
	if !strings.Contains(s.logs.String(), "listening on [::1]:") {
		t.Fatalf("log does not show the bracketed address:\n%s", s.logs.String())
	}
}

// closeSeen is when one socket got its close frame, and with what.
type closeSeen struct {
	at                 time.Time
	errCode, closeCode int
	err                error
}

// awaitClose reads a socket until its close frame, without failing the
// test (it runs on its own goroutine).
func awaitClose(c *client, d time.Duration) closeSeen {
	var out closeSeen
	deadline := time.Now().Add(d)
	for {
		f, err := c.readFrame(time.Until(deadline))
		if err != nil {
			out.err = err
			return out
		}
		switch f.op {
		case 0x8:
			out.at = time.Now()
			if len(f.payload) >= 2 {
				out.closeCode = int(f.payload[0])<<8 | int(f.payload[1])
			}
			return out
		case 0x1:
			var m message
			if json.Unmarshal(f.payload, &m) == nil && m.Event == "pusher:error" {
				var e struct{ Code int }
				_ = json.Unmarshal([]byte(m.dataString()), &e)
				out.errCode = e.Code
			}
		}
	}
}

// SIGTERM drains: /ready turns 503 at once while the node keeps serving for
// drain_delay, then the sockets get 4200 spread over drain_window, then the
// process exits 0.
func TestSigtermDrainsGradually(t *testing.T) {
	s := launch(t, `{"drain_delay":2,"drain_window":2,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"]}]}`, "", 0)
	const n = 80
	sockets := make([]*client, n)
	for i := range sockets {
		sockets[i] = dial(t, s)
	}
	witness := sockets[0]
	witness.subscribe("news")
	ka := openKeepAlive(t, s)
	ka.must(t, "GET", "/ready", "", 200)

	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "/ready answers 503", func() (bool, string) {
		status, body, err := oneShot(s, "GET", "/ready", "")
		return err == nil && status == 503, fmt.Sprint(status, body, err)
	})
	if took := time.Since(sent); took > 1500*time.Millisecond {
		t.Fatalf("/ready turned 503 only after %s", took)
	}
	// Still serving during drain_delay: events, pings, new sockets.
	ka.must(t, "POST", "/apps/"+appID+"/events", publishBody("news", "during-delay"), 200)
	witness.expect("during-delay")
	witness.ping()
	late := dial(t, s)
	if time.Since(sent) > 1800*time.Millisecond {
		t.Fatalf("the checks during drain_delay took too long to be meaningful (%s)", time.Since(sent))
	}

	results := make([]closeSeen, n+1)
	var wg sync.WaitGroup
	for i, c := range append(sockets, late) {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = awaitClose(c, 15*time.Second) }()
	}
	wg.Wait()
	first, last := results[0].at, results[0].at
	for i, r := range results {
		if r.err != nil || r.errCode != 4200 || r.closeCode != 4200 {
			t.Fatalf("socket %d: pusher:error %d, close %d, %v; want 4200 and 4200", i, r.errCode, r.closeCode, r.err)
		}
		if r.at.Before(first) {
			first = r.at
		}
		if r.at.After(last) {
			last = r.at
		}
	}
	if d := first.Sub(sent); d < 1800*time.Millisecond {
		t.Fatalf("the first socket was closed %s after SIGTERM, before drain_delay (2 s) was over", d)
	}
	// 81 sockets over a 2 s window at the 50/s floor: about 1.6 s.
	if spread := last.Sub(first); spread < 800*time.Millisecond || spread > 4*time.Second {
		t.Fatalf("closes spread over %s; want them paced over about 1.6 s", spread)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the process did not exit after the drain")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after a drain, want 0", code)
	}
}

// A second signal cuts the drain short: every socket gets 4200 at once.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	s := launch(t, `{"drain_delay":60,"drain_window":60,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"]}]}`, "", 0)
	a, b := dial(t, s), dial(t, s)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "/ready answers 503", func() (bool, string) {
		status, body, err := oneShot(s, "GET", "/ready", "")
		return err == nil && status == 503, fmt.Sprint(status, body, err)
	})
	a.ping()
	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a, b} {
		if r := awaitClose(c, 5*time.Second); r.err != nil || r.errCode != 4200 || r.closeCode != 4200 {
			t.Fatalf("after a second signal: pusher:error %d, close %d, %v; want 4200, 4200", r.errCode, r.closeCode, r.err)
		}
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the process still runs %s after the second signal", time.Since(sent))
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
}
