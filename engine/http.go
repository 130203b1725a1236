package engine

import (
	"bytes"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/resound/resound/hub"
	"github.com/valyala/fasthttp"
)

// maxBodyBytes caps any API body before the app is known; each app's own
// max_request_size is checked again by the handler.
func maxBodyBytes(h *hub.Hub) int {
	m := 0
	for _, a := range h.Apps() {
		m = max(m, a.MaxRequestSize)
	}
	return max(m, 1<<10)
}

// readHTTP frames one request from the buffered bytes: a WebSocket handshake
// is answered here on the loop; any other request is copied out and handed
// to the HTTP handler (the API), which keeps HMAC, JSON and fan-out off the
// loop.
// Only one request per connection is in flight; pipelined ones wait buffered.
func (cn *conn) readHTTP() gnet.Action {
	if cn.httpBusy {
		// Pipelined requests wait buffered, but not without bound.
		if cn.c.InboundBuffered() > maxPipelinedBytes {
			return cn.httpError(429, "Too many pipelined bytes: wait for responses before sending more")
		}
		return gnet.None
	}
	c := cn.c
	x := cn.more()
	buffered := c.InboundBuffered()
	if buffered == 0 {
		x.requestStart = 0
		return gnet.None
	}
	now := time.Now().Unix()
	if x.requestStart == 0 {
		x.requestStart = now
	}
	cn.lastSeen = uint32(now)
	var buf []byte
	if x.scan.head == 0 {
		// Only the head is looked at until it is parsed; after that, the
		// body is waited for by its length, without peeking (a peek across
		// gnet's buffers copies every byte buffered so far).
		buf, _ = c.Peek(x.scan.needs(buffered))
	}
	f, bad := x.scan.frame(buf, buffered, cn.loop.srv.maxBody)
	if bad != nil {
		return cn.httpError(bad.status, bad.msg)
	}
	if f.total == 0 {
		return gnet.None
	}
	x.scan = requestScan{}
	buf, _ = c.Peek(f.total)
	cn.greeted = true
	if f.upgrade {
		x.requestStart = 0
		req, err := upgrade(buf[:f.head], cn.loop.srv.opts.Path, c, cn.loop.srv.offersDeflate)
		if err != nil {
			return gnet.Close // the upgrader wrote the HTTP error
		}
		_, _ = c.Discard(f.head)
		if cn.loop.srv.stopping.Load() {
			cn.state = stateSocket
			cn.refuse(4200, "Server is shutting down: reconnect to another node")
			return gnet.None
		}
		if action := cn.startSocket(req); action != gnet.None {
			return action
		}
		cn.trim()
		if c.InboundBuffered() > 0 { // frames pipelined behind the handshake
			return cn.readFrames()
		}
		return gnet.None
	}
	raw := append([]byte(nil), buf[:f.total]...)
	_, _ = c.Discard(f.total)
	x.requestStart = 0
	return cn.handOff(raw)
}

// httpError answers on the loop and closes: the stream cannot be trusted.
func (cn *conn) httpError(status int, msg string) gnet.Action {
	var resp fasthttp.Response
	resp.SetStatusCode(status)
	resp.SetBodyString(msg + "\n")
	resp.Header.SetContentType("text/plain; charset=utf-8")
	resp.SetConnectionClose()
	_, _ = cn.c.Write(resp.Header.Header())
	_, _ = cn.c.Write(resp.Body())
	cn.state = stateClosing
	return gnet.Close
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// maxPipelinedBytes bounds what a client may send ahead of its responses.
const maxPipelinedBytes = 4 << 20
