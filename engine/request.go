package engine

import (
	"bufio"
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
)

// requestFrame says where the first request in a buffer ends.
type requestFrame struct {
	head    int  // bytes of the request line and headers, through the blank line
	total   int  // head plus body; 0 while the request is incomplete
	upgrade bool // a WebSocket handshake
}

// badRequest is an HTTP status with a message, for requests we refuse before
// they reach a handler; the connection is closed after it.
type badRequest struct {
	status int
	msg    string
}

// requestScan frames one request as its bytes arrive, remembering what
// earlier packets established: how far the blank line was searched for and,
// once the head is parsed, the request's total length. A request trickled in
// small pieces then costs O(new bytes) per packet, not a re-parse.
type requestScan struct {
	searched int32 // head bytes already searched for "\r\n\r\n"
	head     int32 // head length once found, else 0
	total    int32 // head plus body once the head is parsed
	upgrade  bool
}

// needs is how many buffered bytes the next step looks at: the whole request
// once its length is known, else the head (never more than the head limit).
func (s *requestScan) needs(buffered int) int {
	if s.head > 0 {
		return min(buffered, int(s.total))
	}
	return min(buffered, maxHeaderBytes+1)
}

// frame continues with buf, which starts with the bytes seen before. It never
// reads past maxBody body bytes and rejects what it cannot frame: oversized
// heads, control characters in the head, chunked bodies, bodies over the
// limit. The frame's total is 0 while the request is incomplete.
func (s *requestScan) frame(buf []byte, buffered, maxBody int) (requestFrame, *badRequest) {
	if s.head == 0 {
		from := max(int(s.searched)-3, 0)
		i := bytes.Index(buf[from:], []byte("\r\n\r\n"))
		if i < 0 {
			if len(buf) > maxHeaderBytes {
				return requestFrame{}, &badRequest{431, "Request header fields too large: the limit is 8 KB"}
			}
			s.searched = int32(len(buf))
			return requestFrame{}, nil
		}
		end := from + i + 4
		if end > maxHeaderBytes {
			return requestFrame{}, &badRequest{431, "Request header fields too large: the limit is 8 KB"}
		}
		total, upgrade, bad := parseHead(buf[:end], maxBody)
		if bad != nil {
			return requestFrame{}, bad
		}
		s.head, s.total, s.upgrade = int32(end), int32(total), upgrade
	}
	f := requestFrame{head: int(s.head), upgrade: s.upgrade}
	if buffered >= int(s.total) {
		f.total = int(s.total)
	}
	return f, nil
}

// parseHead checks a complete head and returns the request's total length.
func parseHead(head []byte, maxBody int) (int, bool, *badRequest) {
	if i := controlByte(head); i >= 0 {
		return 0, false, &badRequest{400, "Bad request: control character 0x" + strconv.FormatUint(uint64(head[i]), 16) + " in the request head at byte " + strconv.Itoa(i)}
	}
	if isUpgrade(head) {
		return len(head), true, nil
	}
	var hdr fasthttp.RequestHeader
	if err := hdr.Read(bufio.NewReaderSize(bytes.NewReader(head), len(head)+16)); err != nil {
		return 0, false, &badRequest{400, "Bad request: " + firstLine(err.Error())}
	}
	if bytes.Contains(bytes.ToLower(hdr.Peek("Transfer-Encoding")), []byte("chunked")) {
		return 0, false, &badRequest{411, "Chunked bodies are not supported: send Content-Length"}
	}
	length := max(hdr.ContentLength(), 0)
	if length > maxBody {
		return 0, false, &badRequest{413, "Payload too large: the body limit is " + strconv.Itoa(maxBody) + " bytes"}
	}
	return len(head) + length, false, nil
}

// controlByte returns the index of the first byte no HTTP/1.1 head may
// carry (RFC 9110 section 5.5: NUL, other controls but tab, DEL; CR and LF
// only as a CRLF line end), or -1.
func controlByte(head []byte) int {
	for i, b := range head {
		switch {
		case b == '\t':
		case b == '\r':
			if i+1 >= len(head) || head[i+1] != '\n' {
				return i
			}
		case b == '\n':
			if i == 0 || head[i-1] != '\r' {
				return i
			}
		case b < 0x20 || b == 0x7f:
			return i
		}
	}
	return -1
}

// frameRequest frames the first request in buf in one go (a fresh scan).
func frameRequest(buf []byte, maxBody int) (requestFrame, *badRequest) {
	var s requestScan
	return s.frame(buf[:s.needs(len(buf))], len(buf), maxBody)
}
