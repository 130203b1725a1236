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

// frameRequest finds the first complete request in buf without copying. It
// never reads past maxBody body bytes and rejects what it cannot frame:
// oversized heads, chunked bodies, bodies over the limit.
func frameRequest(buf []byte, maxBody int) (requestFrame, *badRequest) {
	var f requestFrame
	end := headEnd(buf)
	if end < 0 {
		if len(buf) > maxHeaderBytes {
			return f, &badRequest{431, "Request header fields too large: the limit is 8 KB"}
		}
		return f, nil
	}
	if end > maxHeaderBytes {
		return f, &badRequest{431, "Request header fields too large: the limit is 8 KB"}
	}
	f.head = end
	if isUpgrade(buf[:end]) {
		f.upgrade = true
		f.total = end
		return f, nil
	}
	var hdr fasthttp.RequestHeader
	if err := hdr.Read(bufio.NewReaderSize(bytes.NewReader(buf[:end]), end+16)); err != nil {
		return f, &badRequest{400, "Bad request: " + firstLine(err.Error())}
	}
	if bytes.Contains(bytes.ToLower(hdr.Peek("Transfer-Encoding")), []byte("chunked")) {
		return f, &badRequest{411, "Chunked bodies are not supported: send Content-Length"}
	}
	length := hdr.ContentLength()
	if length < 0 {
		length = 0
	}
	if length > maxBody {
		return f, &badRequest{413, "Payload too large: the body limit is " + strconv.Itoa(maxBody) + " bytes"}
	}
	if len(buf) >= end+length {
		f.total = end + length
	}
	return f, nil
}
