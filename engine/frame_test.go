package engine

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/resound/resound/protocol"
)

func TestParseFrameHeaderNeedsWholeHeader(t *testing.T) {
	full := []byte{0x81, 0xfe, 0x01, 0x00, 1, 2, 3, 4}
	for i := 0; i < len(full); i++ {
		if _, _, err := parseFrameHeader(full[:i]); err != errNeedMore {
			t.Fatalf("%d bytes: err %v, want errNeedMore", i, err)
		}
	}
	h, n, err := parseFrameHeader(full)
	if err != nil || n != 8 || h.Length != 256 || !h.Masked || h.Mask != [4]byte{1, 2, 3, 4} || h.OpCode != ws.OpText || !h.Fin {
		t.Fatalf("%+v %d %v", h, n, err)
	}
}

func TestAppendFrameLengths(t *testing.T) {
	for _, size := range []int{0, 125, 126, 65535, 65536} {
		f := appendFrame(nil, ws.OpText, make([]byte, size))
		h, n, err := parseFrameHeader(f)
		if err != nil || int(h.Length) != size || n+size != len(f) || h.Masked {
			t.Fatalf("size %d: %+v n=%d err=%v", size, h, n, err)
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	cases := []struct {
		allowed []string
		origin  string
		want    bool
	}{
		{nil, "https://x.test", true},
		{[]string{"*"}, "", true},
		{[]string{"example.com"}, "https://example.com", true},
		{[]string{"example.com"}, "https://evil.com", false},
		{[]string{"*.example.com"}, "https://a.b.example.com:8443", true},
		{[]string{"*.example.com"}, "https://example.com.evil.test", false},
		{[]string{"example.com"}, "", false},
	}
	for _, c := range cases {
		if got := originAllowed(c.allowed, c.origin); got != c.want {
			t.Errorf("%v %q: %v", c.allowed, c.origin, got)
		}
	}
}

func TestParseAppPath(t *testing.T) {
	cases := []struct {
		uri, prefix, key string
		ok               bool
	}{
		{"/app/key-1?protocol=7", "", "key-1", true},
		{"/ws/app/k", "/ws", "k", true},
		{"/app/k", "/ws", "", false},
		{"/app/", "", "", false},
		{"/app/a/b", "", "", false},
		{"/apps/k", "", "", false},
	}
	for _, c := range cases {
		key, ok := parseAppPath([]byte(c.uri), c.prefix)
		if key != c.key || ok != c.ok {
			t.Errorf("%q %q: %q %v", c.uri, c.prefix, key, ok)
		}
	}
}

func TestCloseFrameReasonIsValidUTF8(t *testing.T) {
	reason := strings.Repeat("é", 100) + "\xff"
	f := closeFrame(4001, reason)
	h, n, err := parseFrameHeader(f)
	if err != nil || h.Length > 125 || !utf8.Valid(f[n+2:]) {
		t.Fatalf("close frame %+v, reason %q", h, f[n+2:])
	}
}

func TestEstablishedFrameIsOneTextFrame(t *testing.T) {
	for _, id := range []string{"1.2", "123456789.987654321", strings.Repeat("9", 100) + ".1"} {
		frame := establishedFrame(id, 120)
		h, n, err := parseFrameHeader(frame)
		if err != nil || !h.Fin || h.OpCode != ws.OpText || int(h.Length) != len(frame)-n {
			t.Fatalf("%q: bad frame header %+v (%v)", id, h, err)
		}
		if want := protocol.ConnectionEstablished(id, 120); string(frame[n:]) != string(want) {
			t.Fatalf("%q: payload %s, want %s", id, frame[n:], want)
		}
	}
}
