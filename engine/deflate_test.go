package engine

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

func handshake(extensions string) []byte {
	h := "GET /app/key-1?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if extensions != "" {
		h += "Sec-WebSocket-Extensions: " + extensions + "\r\n"
	}
	return []byte(h + "\r\n")
}

func TestNegotiateDeflate(t *testing.T) {
	const accepted = "Sec-WebSocket-Extensions: permessage-deflate;server_no_context_takeover;client_no_context_takeover\r\n"
	cases := []struct {
		name, offer string
		allowed     bool
		want        bool
	}{
		{"browser offer", "permessage-deflate; client_max_window_bits", true, true},
		{"bare offer", "permessage-deflate", true, true},
		{"client asks for no context takeover", "permessage-deflate; client_no_context_takeover; server_no_context_takeover", true, true},
		{"full server window", "permessage-deflate; server_max_window_bits=15", true, true},
		{"smaller server window declined", "permessage-deflate; server_max_window_bits=10", true, false},
		{"second offer after a declined first", "permessage-deflate; server_max_window_bits=9, permessage-deflate", true, true},
		{"malformed offer declined", "permessage-deflate; client_no_context_takeover; client_no_context_takeover", true, false},
		{"unknown parameter declined", "permessage-deflate; x_custom=1", true, false},
		{"other extension", "x-webkit-deflate-frame", true, false},
		{"app without compression", "permessage-deflate; client_max_window_bits", false, false},
		{"no offer", "", true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			var asked string
			req, err := upgrade(handshake(c.offer), "", &out, func(key string) bool { asked = key; return c.allowed })
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			resp := out.String()
			if !strings.HasPrefix(resp, "HTTP/1.1 101") {
				t.Fatalf("response %q", resp)
			}
			if req.deflate != c.want {
				t.Fatalf("deflate negotiated %v, want %v", req.deflate, c.want)
			}
			if got := strings.Contains(resp, accepted); got != c.want {
				t.Fatalf("extension header present %v, want %v in %q", got, c.want, resp)
			}
			if c.want && strings.Count(resp, "permessage-deflate") != 1 {
				t.Fatalf("more than one extension accepted: %q", resp)
			}
			if c.offer != "" && asked != "key-1" {
				t.Fatalf("compression asked for app key %q, want key-1", asked)
			}
		})
	}
}

// inflateReference decompresses a message with the standard library, as a
// client does: the removed sync-flush block is appended back.
func inflateReference(t testing.TB, compressed []byte) []byte {
	r := stdflate.NewReader(io.MultiReader(bytes.NewReader(compressed), bytes.NewReader(messageTail)))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reference inflate: %v", err)
	}
	return out
}

func eventPayload(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"event":"order.shipped","channel":"orders","data":"{\"items\":[`)
	for i := 0; b.Len() < n-4; i++ {
		b.WriteString(`{\"sku\":\"A-10` + itoa(i%7) + `\",\"qty\":` + itoa(i%5+1) + `},`)
	}
	s := b.String()[:n-4]
	return []byte(s + `]}"}`)
}

func TestTextFrameWithTwin(t *testing.T) {
	payload := eventPayload(2048)
	frame := textFrameWithTwin(payload, 512)
	if !bytes.Equal(frame, textFrame(payload)) {
		t.Fatal("the plain frame differs from textFrame's")
	}
	twin := compressedTwin(frame)
	if twin == nil {
		t.Fatal("a 2 KB event has no compressed twin")
	}
	h, n, err := parseFrameHeader(twin)
	if err != nil {
		t.Fatalf("twin header: %v", err)
	}
	if !h.Fin || h.OpCode != ws.OpText || h.Rsv != 4 || h.Masked {
		t.Fatalf("twin header %+v: want FIN, text, RSV1 only, unmasked", h)
	}
	if int(h.Length) != len(twin)-n {
		t.Fatalf("twin says %d payload bytes, has %d", h.Length, len(twin)-n)
	}
	if len(twin) >= len(frame)/2 {
		t.Fatalf("twin of %d bytes for a %d-byte frame: JSON should compress better", len(twin), len(frame))
	}
	if got := inflateReference(t, twin[n:]); !bytes.Equal(got, payload) {
		t.Fatalf("twin inflates to %d bytes, not the payload", len(got))
	}
	// Each broadcast compresses on its own: the same payload twice gives
	// the same bytes (no context carried between messages).
	if again := compressedTwin(textFrameWithTwin(payload, 512)); !bytes.Equal(again, twin) {
		t.Fatal("compressing the same payload twice gave different bytes")
	}
}

func TestTextFrameWithoutTwin(t *testing.T) {
	small := eventPayload(300)
	if twin := compressedTwin(textFrameWithTwin(small, 512)); twin != nil {
		t.Fatal("a payload under compression_min_bytes got a twin")
	}
	if twin := compressedTwin(textFrameWithTwin(small, 100)); twin == nil {
		t.Fatal("a payload over a lower compression_min_bytes got no twin")
	}
	noise := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(noise)
	if twin := compressedTwin(textFrameWithTwin(noise, 512)); twin != nil {
		t.Fatal("an incompressible payload got a twin no smaller than itself")
	}
	for _, f := range [][]byte{textFrame(eventPayload(2048)), appendFrame(nil, ws.OpText, small), closeFrame(1000, "")} {
		if compressedTwin(f) != nil {
			t.Fatal("a frame built without a twin reports one")
		}
	}
	big := eventPayload(70000)
	frame := textFrameWithTwin(big, 512)
	if !bytes.Equal(frame, textFrame(big)) {
		t.Fatal("a 70 KB plain frame differs from textFrame's")
	}
	twin := compressedTwin(frame)
	_, n, _ := parseFrameHeader(twin)
	if !bytes.Equal(inflateReference(t, twin[n:]), big) {
		t.Fatal("a 70 KB twin does not inflate to the payload")
	}
}

func TestWithTwinsLeavesTheHubsSliceAlone(t *testing.T) {
	l := &loop{}
	withTwin, plain := textFrameWithTwin(eventPayload(2048), 512), textFrame([]byte("x"))
	frames := [][]byte{plain, withTwin}
	out := l.withTwins(frames)
	if &frames[1][0] != &withTwin[0] {
		t.Fatal("the caller's slice was changed")
	}
	if &out[0][0] != &plain[0] || !bytes.Equal(out[1], compressedTwin(withTwin)) {
		t.Fatal("frames not swapped for their twins")
	}
	l.releaseTwins()
	if l.twinScratch[:2][1] != nil {
		t.Fatal("the scratch slice still holds a frame after release")
	}
	only := [][]byte{plain}
	if got := l.withTwins(only); &got[0] != &only[0] {
		t.Fatal("frames without twins should be passed through as they are")
	}
}

func compress(t testing.TB, p []byte) []byte {
	z := compressors.Get().(*compressor)
	defer z.release()
	return append([]byte(nil), z.compress(p)...)
}

func TestInflate(t *testing.T) {
	payload := eventPayload(5000)
	compressed := compress(t, payload)
	z := getInflater()
	defer z.release()
	got, err := z.inflate(compressed, 5000)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("inflate at exactly the limit: %v, %d bytes", err, len(got))
	}
	if _, err := z.inflate(compressed, 4999); err != errInflatedTooBig {
		t.Fatalf("inflate one byte over the limit: %v, want errInflatedTooBig", err)
	}
	if got, err := z.inflate(compress(t, nil), 10); err != nil || len(got) != 0 {
		t.Fatalf("empty message: %v, %d bytes", err, len(got))
	}
	if _, err := z.inflate([]byte{0xff, 0xff, 0xff}, 100); err != errBadDeflate {
		t.Fatalf("garbage: %v, want errBadDeflate", err)
	}
	// The same pooled inflater works again after an error.
	if got, err := z.inflate(compressed, 10000); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("inflate after an error: %v", err)
	}
}

func TestInflateBombStopsAtTheLimit(t *testing.T) {
	bomb := compress(t, make([]byte, 50<<20))
	if len(bomb) > 100<<10 {
		t.Fatalf("bomb of %d bytes; expected a tiny one", len(bomb))
	}
	z := inflaters.New().(*inflater) // fresh, so its buffer shows what the bomb needed
	got, err := z.inflate(bomb, 10000)
	if err != errInflatedTooBig || got != nil {
		t.Fatalf("bomb: %v, want errInflatedTooBig", err)
	}
	if cap(z.out) > 2*10001 {
		t.Fatalf("inflated into %d bytes of buffer for a 10000-byte limit", cap(z.out))
	}
}

func TestCheckCompressionBit(t *testing.T) {
	ok := []ws.Header{
		{Fin: true, OpCode: ws.OpText, Rsv: 4},
		{Fin: false, OpCode: ws.OpBinary, Rsv: 4},
		{Fin: true, OpCode: ws.OpText},
		{Fin: true, OpCode: ws.OpContinuation},
		{Fin: true, OpCode: ws.OpPing},
	}
	bad := []ws.Header{
		{Fin: true, OpCode: ws.OpContinuation, Rsv: 4},
		{Fin: true, OpCode: ws.OpPing, Rsv: 4},
		{Fin: true, OpCode: ws.OpClose, Rsv: 4},
		{Fin: true, OpCode: ws.OpText, Rsv: 2},
		{Fin: true, OpCode: ws.OpText, Rsv: 5},
	}
	for _, h := range ok {
		if err := checkCompressionBit(h); err != nil {
			t.Errorf("%+v refused: %v", h, err)
		}
	}
	for _, h := range bad {
		if checkCompressionBit(h) == nil {
			t.Errorf("%+v accepted", h)
		}
	}
}

func TestCompressedWireLimitCoversIncompressibleMessages(t *testing.T) {
	for _, limit := range []int{1, 100, 10000, 1 << 20} {
		noise := make([]byte, limit)
		rand.New(rand.NewSource(int64(limit))).Read(noise)
		var buf bytes.Buffer
		w, _ := stdflate.NewWriter(&buf, stdflate.DefaultCompression)
		_, _ = w.Write(noise)
		_ = w.Flush()
		if n := buf.Len() - 4; n > compressedWireLimit(limit) {
			t.Errorf("a %d-byte random message compresses to %d bytes, over the wire limit %d", limit, n, compressedWireLimit(limit))
		}
	}
}

func BenchmarkTextFrameWithTwin2KB(b *testing.B) {
	payload := eventPayload(2048)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		textFrameWithTwin(payload, 512)
	}
}
