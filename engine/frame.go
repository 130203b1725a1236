package engine

import (
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/resound/resound/protocol"
)

// errNeedMore means the buffered bytes do not hold a whole frame header yet.
var errNeedMore = errors.New("need more bytes")

// parseFrameHeader reads a WebSocket frame header (2 to 14 bytes) from the
// start of b without copying. It returns the header and its length in bytes.
func parseFrameHeader(b []byte) (ws.Header, int, error) {
	var h ws.Header
	if len(b) < 2 {
		return h, 0, errNeedMore
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < n+2 {
			return h, 0, errNeedMore
		}
		h.Length = int64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, 0, errNeedMore
		}
		u := binary.BigEndian.Uint64(b[n:])
		if u > 1<<62 {
			return h, 0, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(u)
		n += 8
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, errNeedMore
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// appendFrame appends an unmasked server frame (FIN set) to dst.
func appendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	dst = append(dst, 0x80|byte(op))
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// textFrame wraps a payload in a text frame; the hub shares the result
// between every subscriber of a broadcast.
func textFrame(payload []byte) []byte {
	return appendFrame(make([]byte, 0, len(payload)+10), ws.OpText, payload)
}

// establishedFrame is the text frame of pusher:connection_established, built
// in place in one allocation (the message is ~110 bytes): it is most of a
// handshake's garbage otherwise.
func establishedFrame(socketID string, activityTimeout int) []byte {
	frame := protocol.AppendConnectionEstablished(make([]byte, 2, 128), socketID, activityTimeout)
	n := len(frame) - 2
	if n >= 126 {
		return textFrame(frame[2:])
	}
	frame[0], frame[1] = 0x80|byte(ws.OpText), byte(n)
	return frame
}

// closeFrame builds a close frame with a status code and a short reason.
func closeFrame(code ws.StatusCode, reason string) []byte {
	// A close reason must be valid UTF-8 of at most 123 bytes, or browsers
	// fail the connection (1006) and the code never reaches pusher-js.
	reason = strings.ToValidUTF8(reason, "")
	for len(reason) > 123 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	body := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(body, uint16(code))
	body = append(body, reason...)
	return appendFrame(nil, ws.OpClose, body)
}
