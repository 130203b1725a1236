package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"
)

// HTTPHandler answers the requests on the port that are not WebSocket
// handshakes: the Pusher HTTP API and the health checks.
type HTTPHandler interface {
	// ServeHTTP gets one complete request, head and body; raw is the
	// handler's to keep. It runs on an event loop, so it must not block: it
	// calls reply exactly once, before returning or later from any
	// goroutine. The connection reads its next request only after the reply
	// is written, so a keep-alive client's responses keep their order.
	ServeHTTP(raw []byte, reply func(resp []byte, closeAfter bool))
}

// HandleHTTP sets the handler for HTTP requests; call it before Run.
// Without one, every such request is answered 404.
func (s *Server) HandleHTTP(h HTTPHandler) { s.http = h }

// OpenConnections counts every TCP connection, upgraded or not.
func (s *Server) OpenConnections() int64 { return s.open.Load() }

// handOff passes a complete request to the handler. The reply is written
// through the loop's task queue even when the handler answers at once, so
// pipelined requests are taken one per loop turn instead of by recursion.
func (cn *conn) handOff(raw []byte) gnet.Action {
	h := cn.loop.srv.http
	if h == nil {
		return cn.httpError(404, "Not found: this server has no HTTP API")
	}
	cn.httpBusy = true
	h.ServeHTTP(raw, cn.reply)
	return gnet.None
}

// reply writes a response from any goroutine; its callback, on the loop,
// lets the connection's next request through.
func (cn *conn) reply(resp []byte, closeAfter bool) {
	_ = cn.c.AsyncWrite(resp, func(c gnet.Conn, err error) error {
		cn.httpBusy = false
		// While the node stops, a kept-alive connection ends with the reply
		// it was waiting for rather than at the next sweep, which could cut
		// a request already on its way.
		if err != nil || closeAfter || cn.state != stateHTTP || cn.loop.srv.stopping.Load() {
			return c.Close()
		}
		cn.lastSeen = uint32(time.Now().Unix())
		if c.InboundBuffered() > 0 {
			if cn.readHTTP() == gnet.Close {
				return c.Close()
			}
		}
		return nil
	})
}
