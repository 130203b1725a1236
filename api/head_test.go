package api

import "testing"

func TestParseHead(t *testing.T) {
	cases := []struct {
		raw, method, path string
		close, ok         bool
	}{
		{"GET /up HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/up", false, true},
		{"GET /up?probe=1 HTTP/1.1\r\n\r\n", "GET", "/up", false, true},
		{"HEAD /ready HTTP/1.1\r\nconnection: Close\r\n\r\n", "HEAD", "/ready", true, true},
		{"GET /up HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", "GET", "/up", true, true},
		{"GET /up HTTP/1.0\r\n\r\n", "GET", "/up", true, true},
		{"GET /up HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/up", false, true},
		// A header whose value mentions close is not a Connection header.
		{"POST /apps/a/events HTTP/1.1\r\nX-Note: Connection: close\r\nContent-Length: 2\r\n\r\n{}", "POST", "/apps/a/events", false, true},
		// The body is not read as headers.
		{"POST /x HTTP/1.1\r\nContent-Length: 19\r\n\r\nConnection: close\r\n", "POST", "/x", false, true},
		{"HELLO\r\n\r\n", "", "", false, false},
		{"GET  HTTP/1.1\r\n\r\n", "", "", false, false},
		{"no line end", "", "", false, false},
	}
	for _, c := range cases {
		h, ok := parseHead([]byte(c.raw))
		if ok != c.ok || (ok && (string(h.method) != c.method || string(h.path) != c.path || h.close != c.close)) {
			t.Errorf("%q: got %q %q close=%v ok=%v", c.raw, h.method, h.path, h.close, ok)
		}
	}
}

func TestHealthRoute(t *testing.T) {
	cases := []struct{ path, prefix, want string }{
		{"/up", "", "up"},
		{"/ready", "", "ready"},
		{"/up", "/ws", "up"},
		{"/ws/up", "/ws", "up"},
		{"/ws/ready", "/ws", "ready"},
		{"/wsx/up", "/ws", ""},
		{"/ws/ws/up", "/ws", ""},
		{"/upx", "", ""},
		{"/apps/up", "", ""},
		{"/ws/up", "", ""},
	}
	for _, c := range cases {
		if got := healthRoute([]byte(c.path), c.prefix); got != c.want {
			t.Errorf("healthRoute(%q, %q) = %q, want %q", c.path, c.prefix, got, c.want)
		}
	}
}
