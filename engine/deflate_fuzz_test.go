package engine

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"testing"

	"github.com/gobwas/ws"
)

// maskedFrame builds a client frame as a browser sends it.
func maskedFrame(first byte, payload []byte, mask [4]byte) []byte {
	f := appendFrame(nil, ws.OpText, nil)[:0]
	f = append(f, first)
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	f = append(f, mask[:]...)
	start := len(f)
	f = append(f, payload...)
	ws.Cipher(f[start:], mask, 0)
	return f
}

// FuzzCompressedClientFrame runs a client frame through what a deflate
// socket does with it (header, RSV checks, the compressed wire limit,
// unmasking, inflating under max_message_size) and checks the result
// against the standard library's decompressor: never more than the limit,
// the same bytes when both succeed, and a bomb always refused.
func FuzzCompressedClientFrame(f *testing.F) {
	mask := [4]byte{1, 2, 3, 4}
	f.Add(maskedFrame(0xc1, compress(f, []byte(`{"event":"pusher:ping","data":{}}`)), mask), uint16(10000))
	f.Add(maskedFrame(0xc1, compress(f, make([]byte, 1<<20)), mask), uint16(10000))          // bomb
	f.Add(maskedFrame(0xc1, compress(f, bytes.Repeat([]byte("a"), 100)), mask), uint16(100)) // exactly the limit
	f.Add(maskedFrame(0xc1, compress(f, bytes.Repeat([]byte("a"), 101)), mask), uint16(100)) // one over
	f.Add(maskedFrame(0xc1, []byte{0x01, 0x00, 0x00, 0xff, 0xff, 'x'}, mask), uint16(100))   // final block, then junk
	f.Add(maskedFrame(0xc1, []byte{0xff, 0xfe}, mask), uint16(100))                          // invalid block type
	f.Add(maskedFrame(0xd1, compress(f, []byte("x")), mask), uint16(100))                    // RSV1+RSV2
	f.Add(maskedFrame(0xc0, compress(f, []byte("x")), mask), uint16(100))                    // compressed continuation
	f.Add(maskedFrame(0xc9, nil, mask), uint16(100))                                         // compressed ping
	f.Fuzz(func(t *testing.T, frame []byte, limit16 uint16) {
		limit := int(limit16)
		h, n, err := parseFrameHeader(frame)
		if err != nil || ws.CheckHeader(h, ws.StateServerSide|ws.StateExtended) != nil || checkCompressionBit(h) != nil {
			return
		}
		if h.Rsv == 0 || h.Length > int64(compressedWireLimit(limit)) || int64(len(frame)-n) < h.Length {
			return
		}
		payload := append([]byte(nil), frame[n:n+int(h.Length)]...)
		ws.Cipher(payload, h.Mask, 0)

		z := inflaters.New().(*inflater) // fresh, so its buffer shows what this message needed
		got, err := z.inflate(payload, limit)
		if len(got) > limit || cap(z.out) > 2*(limit+1)+4096 {
			t.Fatalf("inflated to %d bytes (buffer %d) under a %d-byte limit", len(got), cap(z.out), limit)
		}

		ref := stdflate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(messageTail)))
		want, refErr := io.ReadAll(io.LimitReader(ref, int64(limit)+1))
		switch {
		case refErr == nil && len(want) > limit:
			if err == errInflatedTooBig {
				break
			}
			// Refused as invalid instead: right only if the stream is
			// invalid further on (a decoder may check a whole block before
			// it hands out any of it), and refused either way.
			_, restErr := io.Copy(io.Discard, io.LimitReader(ref, 64<<20))
			if err == nil || restErr == nil {
				t.Fatalf("message inflating past %d bytes: %v, want errInflatedTooBig", limit, err)
			}
		case refErr == nil:
			if err != nil {
				t.Fatalf("valid message refused: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("inflated %q, the standard library %q", got, want)
			}
		default:
			if err == nil && len(want) <= limit {
				// The standard library stops at the first error; ours may
				// only succeed where the bytes it read agree.
				if !bytes.HasPrefix(got, want) {
					t.Fatalf("inflated %q where the standard library failed (%v) after %q", got, refErr, want)
				}
			}
		}
	})
}
