package main

import (
	"encoding/binary"
	"errors"
)

// Minimal RFC 6455 framing. The client only sends small text frames
// (subscribe, pong, whispers) and control replies, always masked as the RFC
// requires of clients, and reads unmasked frames from the server; the
// write-loop server reads the client's masked frames with the same parser
// and writes unmasked ones (serverTextFrame).

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxFramePayload bounds what the bench accepts from a peer: Pusher
// messages are small, so anything larger is a protocol error, not a load.
const maxFramePayload = 1 << 20

var errFrameTooLarge = errors.New("websocket frame too large")

// appendMaskedFrame appends one complete, FIN-flagged, masked frame carrying
// payload to dst. mask is the 4-byte masking key.
func appendMaskedFrame(dst []byte, opcode byte, payload []byte, mask [4]byte) []byte {
	dst = append(dst, 0x80|opcode)
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(dst[start:], mask)
	return dst
}

// serverTextFrame is one unmasked, FIN-flagged text frame, as a server
// sends it: what the floor and the write-loop server write.
func serverTextFrame(payload []byte) []byte {
	f := []byte{0x80 | opText}
	switch n := len(payload); {
	case n < 126:
		f = append(f, byte(n))
	case n <= 0xFFFF:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, payload...)
}

// maskBytes XORs b with the repeating key (masking and unmasking are the same).
func maskBytes(b []byte, mask [4]byte) {
	for i := range b {
		b[i] ^= mask[i&3]
	}
}

// frame is one parsed frame; payload aliases the input buffer.
type frame struct {
	fin        bool
	compressed bool // RSV1: permessage-deflate
	opcode     byte
	payload    []byte
}

// parseFrame parses one frame from the front of buf. It returns the number
// of bytes consumed, or 0 when buf holds only part of a frame, so the caller
// keeps the bytes and waits for more. A masked frame is unmasked in place:
// a client's always is, and a server's must not be, but tolerating it
// costs nothing.
func parseFrame(buf []byte) (f frame, consumed int, err error) {
	if len(buf) < 2 {
		return f, 0, nil
	}
	f.fin = buf[0]&0x80 != 0
	f.compressed = buf[0]&0x40 != 0
	f.opcode = buf[0] & 0x0F
	masked := buf[1]&0x80 != 0
	length := uint64(buf[1] & 0x7F)
	pos := 2
	switch length {
	case 126:
		if len(buf) < 4 {
			return f, 0, nil
		}
		length = uint64(binary.BigEndian.Uint16(buf[2:4]))
		pos = 4
	case 127:
		if len(buf) < 10 {
			return f, 0, nil
		}
		length = binary.BigEndian.Uint64(buf[2:10])
		pos = 10
	}
	if length > maxFramePayload {
		return f, 0, errFrameTooLarge
	}
	var mask [4]byte
	if masked {
		if len(buf) < pos+4 {
			return f, 0, nil
		}
		copy(mask[:], buf[pos:pos+4])
		pos += 4
	}
	end := pos + int(length)
	if len(buf) < end {
		return f, 0, nil
	}
	f.payload = buf[pos:end]
	if masked {
		maskBytes(f.payload, mask)
	}
	return f, end, nil
}
