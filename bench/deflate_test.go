package main

import (
	"bytes"
	"compress/flate"
	"strings"
	"testing"
)

func TestParseFrameReportsCompression(t *testing.T) {
	f, n, err := parseFrame([]byte{0xc1, 0x02, 'a', 'b'})
	if err != nil || n != 4 || !f.compressed || !f.fin || f.opcode != opText {
		t.Fatalf("RSV1 text frame: %+v %d %v", f, n, err)
	}
	if f, _, _ := parseFrame([]byte{0x81, 0x00}); f.compressed {
		t.Fatal("a plain frame reported compressed")
	}
}

func TestInflaterRoundTrip(t *testing.T) {
	var z inflater
	for _, msg := range []string{`{"event":"x","data":"` + strings.Repeat("abc", 1000) + `"}`, "", "short"} {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestSpeed)
		_, _ = w.Write([]byte(msg))
		_ = w.Flush()
		got, err := z.inflate(bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff}))
		if err != nil || string(got) != msg {
			t.Fatalf("inflate: %v, got %d bytes, want %d", err, len(got), len(msg))
		}
	}
	if _, err := z.inflate([]byte{0xff, 0xfe}); err == nil {
		t.Fatal("garbage inflated without an error")
	}
}

func TestPadTextCompressesLikeAnEvent(t *testing.T) {
	pad := padText(2000)
	if len(pad) != 2000 || bytes.ContainsAny(pad, "\"\\") {
		t.Fatalf("pad of %d bytes, quotes or backslashes: %v", len(pad), bytes.ContainsAny(pad, "\"\\"))
	}
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 5)
	_, _ = w.Write(pad)
	_ = w.Close()
	if ratio := float64(len(pad)) / float64(buf.Len()); ratio < 2 || ratio > 6 {
		t.Fatalf("pad compresses %.1fx; a realistic event is 2-6x", ratio)
	}
	if !bytes.Equal(padText(2000), pad) {
		t.Fatal("pad differs between calls: runs would not compare")
	}
}

// BenchmarkInflateEvent is the client's cost per compressed delivery in a
// --deflate fan-out with --pad-bytes 2000.
func BenchmarkInflateEvent(b *testing.B) {
	msg := append([]byte(`{"event":"bench","channel":"bench-0","data":"{\"bench_t\":1,\"bench_s\":1,\"pad\":\"`), padText(2000)...)
	msg = append(msg, `\"}"}`...)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write(msg)
	_ = w.Flush()
	compressed := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
	var z inflater
	b.ReportAllocs()
	for b.Loop() {
		if _, err := z.inflate(compressed); err != nil {
			b.Fatal(err)
		}
	}
}
