package main

import (
	"bytes"
	"testing"
)

func TestAppendMaskedFrameRFCExample(t *testing.T) {
	// RFC 6455 section 5.7: a masked "Hello" text frame.
	got := appendMaskedFrame(nil, opText, []byte("Hello"), [4]byte{0x37, 0xfa, 0x21, 0x3d})
	want := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x want % x", got, want)
	}
}

func TestMaskedFrameRoundTripAllLengthForms(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		wire := appendMaskedFrame(nil, opText, payload, [4]byte{1, 2, 3, 4})
		if wire[1]&0x80 == 0 {
			t.Fatalf("n=%d: client frame is not masked", n)
		}
		f, used, err := parseFrame(wire)
		if err != nil || used != len(wire) {
			t.Fatalf("n=%d: used %d of %d, err %v", n, used, len(wire), err)
		}
		if !f.fin || f.opcode != opText || !bytes.Equal(f.payload, payload) {
			t.Fatalf("n=%d: bad frame fin=%v op=%d len=%d", n, f.fin, f.opcode, len(f.payload))
		}
		// Every strict prefix is "incomplete", never an error or a short frame.
		for cut := 0; cut < len(wire); cut += 1 + len(wire)/50 {
			if _, used, err := parseFrame(append([]byte(nil), wire[:cut]...)); used != 0 || err != nil {
				t.Fatalf("n=%d cut=%d: used=%d err=%v", n, cut, used, err)
			}
		}
	}
}

func TestParseUnmaskedServerFrames(t *testing.T) {
	// Two server frames back to back: "Hi" text, then a ping with payload.
	buf := []byte{0x81, 0x02, 'H', 'i', 0x89, 0x01, 'p'}
	f, used, err := parseFrame(buf)
	if err != nil || used != 4 || string(f.payload) != "Hi" || f.opcode != opText {
		t.Fatalf("first frame: %+v used=%d err=%v", f, used, err)
	}
	f, used, err = parseFrame(buf[used:])
	if err != nil || used != 3 || f.opcode != opPing || string(f.payload) != "p" {
		t.Fatalf("second frame: %+v used=%d err=%v", f, used, err)
	}
	// 16-bit length form from the RFC: 256 bytes binary.
	big := append([]byte{0x82, 0x7E, 0x01, 0x00}, bytes.Repeat([]byte{7}, 256)...)
	f, used, err = parseFrame(big)
	if err != nil || used != len(big) || len(f.payload) != 256 || f.opcode != opBinary {
		t.Fatalf("16-bit frame: used=%d err=%v", used, err)
	}
}

func TestParseFrameRejectsHugeLength(t *testing.T) {
	buf := []byte{0x81, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0}
	if _, _, err := parseFrame(buf); err != errFrameTooLarge {
		t.Fatalf("want errFrameTooLarge, got %v", err)
	}
}

func TestFragmentFlag(t *testing.T) {
	f, _, _ := parseFrame([]byte{0x01, 0x01, 'a'})
	if f.fin || f.opcode != opText {
		t.Fatalf("non-final text fragment parsed as %+v", f)
	}
}
