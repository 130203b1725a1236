package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPIEventsWithInfoAndBatch(t *testing.T) {
	s := startServer(t, defaultApps)
	a, b := dial(t, s), dial(t, s)
	a.join("presence-r", `{"user_id":"1"}`)
	b.join("presence-r", `{"user_id":"2"}`)
	b.subscribe("news")

	status, body := api(t, s, "POST", "/apps/app-1/events", nil,
		`{"name":"e","data":"d","channels":["presence-r","news"],"info":"user_count,subscription_count"}`)
	want := `{"channels":{"news":{"subscription_count":1},"presence-r":{"subscription_count":2,"user_count":2}}}`
	if status != 200 || !jsonEqual(body, want) {
		t.Fatalf("%d %s", status, body)
	}
	status, body = api(t, s, "POST", "/apps/app-1/batch_events", nil,
		`{"batch":[{"name":"x","channel":"news","data":"1"},{"name":"y","channel":"news","data":"2"}]}`)
	if status != 200 || body != `{"batch":{}}` {
		t.Fatalf("%d %s", status, body)
	}
	if got := b.expect("e", "pusher_internal:member_added"); got.Channel != "presence-r" && got.Channel != "news" {
		t.Fatalf("got %+v", got)
	}
	b.expect("e")
	if m := b.expect("x"); m.dataString() != "1" {
		t.Fatal(m.Data)
	}
	if m := b.expect("y"); m.dataString() != "2" {
		t.Fatal(m.Data)
	}
	status, body = api(t, s, "POST", "/apps/app-1/batch_events", nil,
		`{"batch":[{"name":"x","channel":"presence-r","data":"1","info":"user_count"},{"name":"y","channel":"news","data":"2"}]}`)
	if status != 200 || !jsonEqual(body, `{"batch":[{"user_count":2},{}]}`) {
		t.Fatalf("%d %s", status, body)
	}
}

func TestAPIQueries(t *testing.T) {
	s := startServer(t, defaultApps)
	status, body := api(t, s, "GET", "/apps/app-1/channels", nil, "")
	if status != 200 || body != `{"channels":{}}` {
		t.Fatalf("empty channels must be an object: %d %s", status, body)
	}
	a, b := dial(t, s), dial(t, s)
	a.join("presence-r", `{"user_id":"1"}`)
	b.join("presence-r", `{"user_id":"1"}`)
	a.subscribe("news")
	b.subscribe("private-p")

	status, body = api(t, s, "GET", "/apps/app-1/channels", nil, "")
	if status != 200 || !jsonEqual(body, `{"channels":{"news":{},"presence-r":{},"private-p":{}}}`) {
		t.Fatalf("%d %s", status, body)
	}
	status, body = api(t, s, "GET", "/apps/app-1/channels", map[string]string{"filter_by_prefix": "presence-", "info": "user_count"}, "")
	if status != 200 || !jsonEqual(body, `{"channels":{"presence-r":{"user_count":1}}}`) {
		t.Fatalf("%d %s", status, body)
	}
	status, body = api(t, s, "GET", "/apps/app-1/channels/presence-r", map[string]string{"info": "user_count,subscription_count"}, "")
	if status != 200 || !jsonEqual(body, `{"occupied":true,"user_count":1,"subscription_count":2}`) {
		t.Fatalf("%d %s", status, body)
	}
	status, body = api(t, s, "GET", "/apps/app-1/channels/empty", map[string]string{"info": "subscription_count"}, "")
	if status != 200 || !jsonEqual(body, `{"occupied":false,"subscription_count":0}`) {
		t.Fatalf("%d %s", status, body)
	}
	status, body = api(t, s, "GET", "/apps/app-1/channels/news", map[string]string{"info": "user_count"}, "")
	if status != 400 {
		t.Fatalf("user_count on a public channel: %d %s", status, body)
	}
	status, body = api(t, s, "GET", "/apps/app-1/channels/news/users", nil, "")
	if status != 400 {
		t.Fatalf("users of a public channel: %d %s", status, body)
	}
	status, body = api(t, s, "GET", "/apps/app-1/connections", nil, "")
	if status != 200 || body != `{"connections":2}` {
		t.Fatalf("%d %s", status, body)
	}
	trigger(t, s, "cache-c", "e", "payload", "")
	status, body = api(t, s, "GET", "/apps/app-1/channels/cache-c", map[string]string{"info": "cache"}, "")
	if status != 200 || !strings.Contains(body, `"cache":{"event":"e"`) {
		t.Fatalf("%d %s", status, body)
	}
}

func TestAPITerminateUserConnections(t *testing.T) {
	s := startServer(t, defaultApps)
	u1a, u1b, u2 := dial(t, s), dial(t, s), dial(t, s)
	u1a.join("presence-r", `{"user_id":"u1"}`)
	u1b.join("presence-r", `{"user_id":"u1"}`)
	u2.join("presence-r", `{"user_id":"u2"}`)
	u1a.expect("pusher_internal:member_added")
	status, body := api(t, s, "POST", "/apps/app-1/users/u1/terminate_connections", nil, "{}")
	if status != 200 || body != "{}" {
		t.Fatalf("%d %s", status, body)
	}
	for _, c := range []*client{u1a, u1b} {
		if code := c.expectClose(); code != 4009 {
			t.Fatalf("close code %d", code)
		}
	}
	if m := u2.expect("pusher_internal:member_removed"); m.dataObject(t)["user_id"] != "u1" {
		t.Fatal(m.Data)
	}
	u2.ping()
}

// rawRequest is an HTTP request built by hand, signed, for error paths.
func rawRequest(addr, method, path string, params map[string]string, body string, mutate func(string) string) string {
	u := signedURL(addr, method, path, params, body)
	target := strings.TrimPrefix(u, "http://"+addr)
	if mutate != nil {
		target = mutate(target)
	}
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", method, target, len(body), body)
}

// roundTrip writes raw bytes and reads one response.
func roundTrip(t *testing.T, s *server, raw string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(raw))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPIErrors(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","max_request_size":2000,"max_event_data_size":1000}]}`)
	ev := `{"name":"e","channel":"c","data":"x"}`
	replace := func(old, new string) func(string) string {
		return func(s string) string { return strings.Replace(s, old, new, 1) }
	}
	stale := fmt.Sprint(time.Now().Add(-time.Hour).Unix())
	cases := []struct {
		name   string
		raw    string
		status int
		says   string
	}{
		{"tampered signature", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, ev, func(s string) string { return s[:len(s)-3] + "000" }), 401, "auth_signature"},
		{"wrong key", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, ev, replace("auth_key=key-1", "auth_key=other")), 401, "auth_key"},
		{"stale timestamp", rawRequest(s.addr, "POST", "/apps/app-1/events", map[string]string{"auth_timestamp": stale}, ev, nil), 401, "auth_timestamp"},
		{"wrong body_md5", strings.Replace(rawRequest(s.addr, "POST", "/apps/app-1/events", nil, ev, nil), `"data":"x"`, `"data":"y"`, 1), 401, "body_md5"},
		{"unsigned", "GET /apps/app-1/channels HTTP/1.1\r\nHost: x\r\n\r\n", 401, "auth_signature"},
		{"unknown app", rawRequest(s.addr, "POST", "/apps/nope/events", nil, ev, nil), 404, "nope"},
		{"unknown route", rawRequest(s.addr, "GET", "/apps/app-1/nothing", nil, "", nil), 404, "Not found"},
		{"wrong method", rawRequest(s.addr, "GET", "/apps/app-1/events", nil, "", nil), 405, "POST"},
		{"malformed JSON", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":`, nil), 400, "JSON"},
		{"missing name", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"channel":"c","data":"x"}`, nil), 422, "name"},
		{"missing channels", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":"e","data":"x"}`, nil), 422, "channels"},
		{"bad channel", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":"e","channel":"a b","data":"x"}`, nil), 422, "channel name"},
		{"bad socket_id", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":"e","channel":"c","data":"x","socket_id":"abc"}`, nil), 422, "socket_id"},
		{"data too large", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":"e","channel":"c","data":"`+strings.Repeat("x", 1001)+`"}`, nil), 413, "max_event_data_size"},
		{"body too large", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":"e","channel":"c","data":"`+strings.Repeat("x", 2100)+`"}`, nil), 413, "too large"},
		{"too many channels", rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":"e","data":"x","channels":[`+strings.Repeat(`"c",`, 100)+`"c"]}`, nil), 413, "channels"},
		{"batch too large", rawRequest(s.addr, "POST", "/apps/app-1/batch_events", nil, `{"batch":[`+strings.Repeat(ev+",", 10)+ev+`]}`, nil), 413, "Batch"},
		{"chunked", "POST /apps/app-1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411, "Content-Length"},
		{"huge header", "GET /up HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431, "header"},
		{"garbage", "HELLO\r\n\r\n", 400, "Bad request"},
	}
	for _, tc := range cases {
		status, body := roundTrip(t, s, tc.raw)
		if status != tc.status || !strings.Contains(body, tc.says) || strings.Count(strings.TrimSpace(body), "\n") > 0 {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
		if !s.alive() {
			t.Fatalf("server died after %s", tc.name)
		}
	}
}

func TestAPIKeepAlivePipelinedAndSplit(t *testing.T) {
	s := startServer(t, defaultApps)
	sub := dial(t, s)
	sub.subscribe("c")
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	read := func() (int, string) {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Three requests in one write: answered in order on one connection.
	var batch string
	for i := 0; i < 3; i++ {
		batch += rawRequest(s.addr, "POST", "/apps/app-1/events", nil, fmt.Sprintf(`{"name":"n%d","channel":"c","data":"%d"}`, i, i), nil)
	}
	_, _ = conn.Write([]byte(batch))
	for i := 0; i < 3; i++ {
		if status, body := read(); status != 200 || body != "{}" {
			t.Fatalf("pipelined %d: %d %s", i, status, body)
		}
		if m := sub.expect(fmt.Sprintf("n%d", i)); m.dataString() != fmt.Sprint(i) {
			t.Fatalf("order: %+v", m)
		}
	}
	// One request split across many TCP writes, the body too.
	req := rawRequest(s.addr, "POST", "/apps/app-1/events", nil, `{"name":"split","channel":"c","data":"ok"}`, nil)
	for i := 0; i < len(req); i += 7 {
		_, _ = conn.Write([]byte(req[i:min(i+7, len(req))]))
		time.Sleep(2 * time.Millisecond)
	}
	if status, body := read(); status != 200 {
		t.Fatalf("split: %d %s", status, body)
	}
	sub.expect("split")
	// Keep-alive: the same connection serves a GET after a pause.
	time.Sleep(300 * time.Millisecond)
	_, _ = conn.Write([]byte("GET /up HTTP/1.1\r\nHost: x\r\n\r\n"))
	if status, body := read(); status != 200 || body != `{"health":"OK"}` {
		t.Fatalf("up: %d %s", status, body)
	}
	// Connection: close is honoured.
	_, _ = conn.Write([]byte("GET /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	read()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("expected the server to close, got %v", err)
	}
}

func TestAPISlowlorisIsCutOff(t *testing.T) {
	s := startServer(t, `{"request_timeout":1,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1"}]}`)
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET /up HTTP/1.1\r\nHost: x\r\n"))
	start := time.Now()
	for i := 0; i < 40; i++ { // one header byte every 100 ms, forever
		if _, err := conn.Write([]byte("X")); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if time.Since(start) > 2500*time.Millisecond {
			break
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 408 {
		t.Fatalf("expected 408, got %v %v", resp, err)
	}
	if time.Since(start) > 4*time.Second {
		t.Fatalf("cut off only after %v", time.Since(start))
	}
	if !s.alive() {
		t.Fatal("server died")
	}
}

func TestHealthReadyAndPathPrefix(t *testing.T) {
	s := startServer(t, defaultApps, "--path", "/ws")
	resp, err := http.Get("http://" + s.addr + "/ws/ready")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ready: %v %v", resp, err)
	}
	resp.Body.Close()
	// The signature covers the path without the prefix, as pusher-php signs it.
	u := signedURL(s.addr, "GET", "/apps/app-1/channels", nil, "")
	u = strings.Replace(u, s.addr+"/apps", s.addr+"/ws/apps", 1)
	resp, err = http.Get(u)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("prefixed API: %v %v", resp, err)
	}
	resp.Body.Close()
	c, head := rawDial(t, s, "/ws/app/key-1?protocol=7", "")
	if !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("prefixed socket: %q", head)
	}
	c.expect("pusher:connection_established")
	_, head = rawDial(t, s, "/app/key-1", "")
	if !strings.HasPrefix(head, "HTTP/1.1 404") {
		t.Fatalf("unprefixed socket: %q", head)
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func TestAPIServesLargeHeadsUpTo8KB(t *testing.T) {
	s := startServer(t, defaultApps)
	raw := "GET /up HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("p", 6000) + "\r\n\r\n"
	if status, body := roundTrip(t, s, raw); status != 200 || body != `{"health":"OK"}` {
		t.Fatalf("6 KB head: %d %q", status, body)
	}
}
