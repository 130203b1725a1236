package engine

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

func FuzzFrameHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x81, 0xfe, 0x01, 0x00, 1, 2, 3, 4})
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 9, 9, 9, 9})
	f.Add([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8})
	f.Add([]byte{0x81})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseFrameHeader(b)
		if err != nil {
			return
		}
		if n < 2 || n > 14 || n > len(b) {
			t.Fatalf("header length %d for %d bytes", n, len(b))
		}
		if h.Length < 0 {
			t.Fatalf("negative length %d", h.Length)
		}
		// What we parsed must re-encode to the same bytes.
		var buf bytes.Buffer
		if err := ws.WriteHeader(&buf, h); err == nil && h.Length >= 0 {
			if got := buf.Bytes(); !bytes.Equal(got, b[:n]) && minimalLength(b, n) {
				t.Fatalf("re-encoded %x, parsed from %x", got, b[:n])
			}
		}
		_ = ws.CheckHeader(h, ws.StateServerSide)
	})
}

// minimalLength reports whether the frame used the shortest length encoding,
// the only one WriteHeader produces.
func minimalLength(b []byte, n int) bool {
	l := b[1] & 0x7f
	extra := n - 2
	if b[1]&0x80 != 0 {
		extra -= 4
	}
	switch l {
	case 126:
		return extra == 2 && (int(b[2])<<8|int(b[3])) >= 126
	case 127:
		return extra == 8 && b[2]&0x80 == 0 && !(b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0)
	}
	return true
}

func FuzzUpgrade(f *testing.F) {
	f.Add([]byte("GET /app/key-1?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://a.example.com\r\n\r\n"))
	f.Add([]byte("GET /ws/app/k HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		var out bytes.Buffer
		req, err := upgrade(head, "", &out, func(string) bool { return true })
		if err == nil {
			if req.appKey == "" {
				t.Fatal("upgrade succeeded without an app key")
			}
			if !bytes.HasPrefix(out.Bytes(), []byte("HTTP/1.1 101")) {
				t.Fatalf("upgrade succeeded but wrote %q", out.Bytes())
			}
		}
	})
}

func FuzzReadHTTP(f *testing.F) {
	f.Add([]byte("POST /apps/1/events?auth_key=k HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET /up HTTP/1.1\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("GET /up HTTP/1.1\r\nContent-Length: -5\r\n\r\n"))
	f.Add([]byte("GET /app/k HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x80"))
	f.Add([]byte("GET /app/k HTTP/1.1\r\nUpgrade: websocket\r\nX: a\x00b\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.1\r\nHost: x\r\nX: a\rb\r\nContent-Length: 1\r\n\r\n1"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		fr, bad := frameRequest(buf, 1000)
		if bad != nil {
			if bad.status < 400 || bad.msg == "" {
				t.Fatalf("bad request without a status or message: %+v", bad)
			}
			return
		}
		if fr.total > len(buf) || (fr.total != 0 && fr.total < fr.head) {
			t.Fatalf("frame %+v out of %d bytes", fr, len(buf))
		}
		if fr.total-fr.head > 1000 {
			t.Fatalf("body of %d bytes over the limit", fr.total-fr.head)
		}
	})
}

// FuzzIncrementalFraming: a request arriving in pieces frames exactly as it
// does in one piece, whatever the piece size.
func FuzzIncrementalFraming(f *testing.F) {
	f.Add([]byte("POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"), uint8(1))
	f.Add([]byte("GET /up HTTP/1.1\r\nHost: x\r\n\r\nGET /up HTTP/1.1\r\n\r\n"), uint8(7))
	f.Add([]byte("GET /app/k HTTP/1.1\r\nUpgrade: websocket\r\nX: a\x00\r\n\r\n"), uint8(3))
	f.Add([]byte("GET /x HTTP/1.1\r\n\r\r\n\r\n"), uint8(2))
	f.Add([]byte("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n"), uint8(200))
	f.Fuzz(func(t *testing.T, req []byte, step uint8) {
		want, wantBad := frameRequest(req, 1000)
		got, bad, _ := feed(req, int(step)+1, 1000)
		if (bad == nil) != (wantBad == nil) {
			t.Fatalf("in pieces of %d: %v, one shot: %v", int(step)+1, bad, wantBad)
		}
		if bad != nil {
			if bad.status != wantBad.status {
				t.Fatalf("in pieces: %d, one shot: %d", bad.status, wantBad.status)
			}
			return
		}
		if got != want {
			t.Fatalf("in pieces of %d: %+v, one shot: %+v", int(step)+1, got, want)
		}
	})
}
