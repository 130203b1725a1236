package engine

import (
	"encoding/binary"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
	"github.com/resound/resound/hub"
	"github.com/resound/resound/protocol"
)

type connState uint8

const (
	stateHTTP      connState = iota // no request seen yet, or an API keep-alive connection
	stateSocket                     // upgraded WebSocket
	stateLingering                  // close frame sent; reading and discarding until the client goes
	stateClosing                    // closed by us, waiting for gnet's OnClose
)

// conn is everything we keep for one TCP connection. An idle socket is one
// of 20 thousand on a node, so this is 64 bytes: what only HTTP requests,
// fragmented messages, slow consumers or closing sockets need lives in
// connExtra, allocated while one of those is going on.
type conn struct {
	c    gnet.Conn
	loop *loop
	sess *hub.Session
	// x is nil for a socket with nothing waiting: no backlog and no bytes
	// unsent in gnet. Send relies on that to skip gnet's state; a write
	// through gnet to a socket that stays open calls noteUnsent, and trim
	// keeps x while gnet holds bytes.
	x *connExtra

	// lastSeen is the unix second of the last frame or request byte (32
	// bits hold it until 2106); pingedAt is when we pinged and are waiting
	// for any reply (0: not), truncated to 32 bits and only compared by
	// difference.
	lastSeen uint32
	pingedAt uint32
	// fd is the socket's descriptor, kept here so a broadcast's write
	// reads nothing of gnet's connection.
	fd int32
	// slot is the connection's place in its loop's conns.
	slot int32

	state connState
	// controlPings: the client pings with WebSocket control frames, so we do too.
	controlPings bool
	httpBusy     bool
	// greeted: a first complete request (upgrade or API) arrived; until
	// then the handshake timeout applies, counted from requestStart.
	greeted        bool
	backlogWatched bool
	// deflate: permessage-deflate was negotiated (deflate.go).
	deflate bool
	// closeCode is how the socket ended, for metrics: 1006 from its
	// session's start until a close frame is sent or received; 0 for
	// connections that never had a session.
	closeCode uint16
}

// connExtra is the state of a connection that is not an idle socket.
type connExtra struct {
	// requestStart is when the current, still incomplete, HTTP request began.
	requestStart int64
	// scan is the progress of framing the current HTTP request.
	scan requestScan
	// lingerUntil is the unix second a lingering close gives up waiting.
	lingerUntil int64

	fragOp ws.OpCode
	// fragDeflated: the fragmented message being collected is compressed.
	fragDeflated bool
	frag         []byte

	// backlog holds frames gnet is not yet given (see outbound.go).
	backlog outbound
}

// more returns the connection's extra state, allocating it if needed.
func (cn *conn) more() *connExtra {
	if cn.x == nil {
		cn.x = &connExtra{}
	}
	return cn.x
}

// trim lets an idle socket's extra state go once nothing in it is in use and
// gnet holds nothing unsent for it (see x).
func (cn *conn) trim() {
	x := cn.x
	if x != nil && cn.state == stateSocket && x.frag == nil && x.fragOp == 0 && x.backlog.empty() && !cn.backlogWatched && cn.c.OutboundBuffered() == 0 {
		cn.x = nil
	}
}

// requestStart is when the current HTTP request began (0: none pending).
func (cn *conn) requestStart() int64 {
	if cn.x == nil {
		return 0
	}
	return cn.x.requestStart
}

func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if s.stopping.Load() {
		return nil, gnet.Close
	}
	l := s.loopOf(c)
	peer, isTLS := c.Context().(tlsPeer)
	if isTLS && s.opts.Debug {
		s.debugf("TLS connection from %s is fd %d on the loop", peer.addr, c.Fd())
	}
	if s.opts.SocketSendBuffer > 0 {
		_ = c.SetWriteBuffer(s.opts.SocketSendBuffer)
	}
	if !s.opts.Debug { // debug logs name the peer
		dropAddresses(c)
	}
	now := time.Now().Unix()
	cn := &conn{c: c, loop: l, lastSeen: uint32(now), x: &connExtra{requestStart: now}, fd: int32(c.Fd())}
	l.addConn(cn)
	c.SetContext(cn)
	if isTLS {
		l.relayCuts[cn] = peer.cut
	}
	s.open.Add(1)
	s.opened.Add(1)
	return nil, gnet.None
}

func (s *Server) OnClose(c gnet.Conn, _ error) gnet.Action {
	cn, _ := c.Context().(*conn)
	if cn == nil {
		return gnet.None
	}
	c.SetContext(nil)
	cn.loop.removeConn(cn)
	if cut := cn.loop.relayCuts[cn]; cut != nil {
		delete(cn.loop.relayCuts, cn)
		cut.loopClosed()
	}
	s.open.Add(-1)
	if cn.closeCode != 0 {
		s.countClose(cn.closeCode)
	}
	// Closing before the session goes: gnet may still flush bytes it holds
	// after this callback, and a frame sent meanwhile must not pass them.
	cn.x = nil
	cn.state = stateClosing
	if cn.sess != nil {
		if s.opts.Debug {
			s.debugf("socket %s closed", cn.sess.ID())
		}
		cn.sess.Close()
	}
	return gnet.None
}

func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	cn, _ := c.Context().(*conn)
	if cn == nil {
		return gnet.Close
	}
	now := time.Now()
	cn.loop.io.woke.Store(monoAt(now))
	switch cn.state {
	case stateSocket:
		cn.lastSeen = uint32(now.Unix())
		return cn.readFrames()
	case stateHTTP:
		return cn.readHTTP()
	default: // lingering or closing: the client's bytes no longer matter
		_, _ = c.Discard(-1)
		return gnet.None
	}
}

// startSocket finishes a handshake: the app decides whether the socket may stay.
func (cn *conn) startSocket(req upgradeRequest) gnet.Action {
	s := cn.loop.srv
	cn.state = stateSocket
	app := s.hub.AppByKey(req.appKey)
	if app == nil {
		cn.refuse(protocol.ErrAppNotFound, "Application does not exist: no app has key "+req.appKey)
		return gnet.None
	}
	if !originAllowed(app.AllowedOrigins, req.origin) {
		cn.refuse(protocol.ErrUnauthorized, "Origin not allowed: add "+req.origin+" to the app's allowed_origins")
		return gnet.None
	}
	sess, code, msg := s.hub.Open(app, cn.loop.index, cn)
	if sess == nil {
		cn.refuse(code, msg)
		return gnet.None
	}
	cn.sess = sess
	cn.deflate = req.deflate
	cn.closeCode = 1006
	if s.opts.Debug {
		s.debugf("socket %s connected to app %s from %s, fd %d (origin %q, deflate %v)", sess.ID(), app.ID, cn.c.RemoteAddr(), cn.c.Fd(), req.origin, req.deflate)
	}
	cn.Send(establishedFrame(sess.ID(), app.ActivityTimeout))
	return gnet.None
}

// refuse sends pusher:error and closes with the same code.
func (cn *conn) refuse(code int, msg string) {
	if cn.loop.srv.opts.Debug {
		cn.loop.srv.debugf("socket refused: %d %s", code, msg)
	}
	cn.Kick(code, msg)
}

// Kick implements hub.Outbox: pusher:error, a close frame with the code, then
// a lingering close.
func (cn *conn) Kick(code int, msg string) {
	if cn.state != stateSocket {
		return
	}
	cn.setCloseCode(code)
	frames := [][]byte{textFrame(protocol.Error(code, msg)), closeFrame(ws.StatusCode(code), msg)}
	cn.wrote(len(frames[0]) + len(frames[1]))
	_, _ = cn.c.Writev(frames)
	if cn.state != stateSocket {
		return // the write failed and gnet already closed the connection (OnClose ran)
	}
	cn.linger()
}

// readFrames parses every complete frame buffered, without copying.
func (cn *conn) readFrames() gnet.Action {
	c := cn.c
	for {
		buffered := c.InboundBuffered()
		if buffered < 2 {
			return gnet.None
		}
		head, _ := c.Peek(min(buffered, 14))
		h, hn, err := parseFrameHeader(head)
		if err == errNeedMore {
			return gnet.None
		}
		state := ws.StateServerSide
		fragLen := 0
		if x := cn.x; x != nil && (x.frag != nil || x.fragOp != 0) {
			fragLen = len(x.frag)
			state |= ws.StateFragmented
		}
		if cn.deflate {
			state |= ws.StateExtended
		}
		if err == nil {
			err = ws.CheckHeader(h, state)
		}
		if err == nil && cn.deflate {
			err = checkCompressionBit(h)
		}
		if err != nil {
			return cn.closeWith(ws.StatusProtocolError, "Protocol error: "+err.Error())
		}
		if h.OpCode.IsData() || h.OpCode == ws.OpContinuation {
			limit := cn.maxMessage()
			wire := limit
			if h.Rsv != 0 || (h.OpCode == ws.OpContinuation && cn.x != nil && cn.x.fragDeflated) {
				wire = compressedWireLimit(limit)
			}
			if int64(fragLen)+h.Length > int64(wire) {
				cn.loop.srv.refused(hub.RefusedMessageSize)
				return cn.closeWith(ws.StatusMessageTooBig, "Maximum message size exceeded: the limit is "+itoa(limit)+" bytes")
			}
		}
		total := hn + int(h.Length)
		if buffered < total {
			return gnet.None
		}
		cn.loop.io.in.Add(uint64(total))
		frame, _ := c.Peek(total)
		payload := frame[hn:]
		ws.Cipher(payload, h.Mask, 0)
		action := cn.handleFrame(h, payload)
		_, _ = c.Discard(total)
		if action != gnet.None || cn.state != stateSocket {
			return action
		}
	}
}

func (cn *conn) maxMessage() int {
	if cn.sess != nil {
		return cn.sess.App().MaxMessageSize
	}
	return 10000
}

func (cn *conn) handleFrame(h ws.Header, payload []byte) gnet.Action {
	cn.pingedAt = 0
	switch h.OpCode {
	case ws.OpPing:
		cn.controlPings = true
		cn.writeControl(appendFrame(nil, ws.OpPong, payload))
		return gnet.None
	case ws.OpPong:
		return gnet.None
	case ws.OpClose:
		switch {
		case len(payload) == 0:
			cn.setCloseCode(int(ws.StatusNoStatusRcvd))
			cn.writeControl(appendFrame(nil, ws.OpClose, nil))
		case len(payload) == 1:
			return cn.closeWith(ws.StatusProtocolError, "Protocol error: close payload of 1 byte")
		case !closeCodeAllowed(binary.BigEndian.Uint16(payload)):
			return cn.closeWith(ws.StatusProtocolError, "Protocol error: close code "+itoa(int(binary.BigEndian.Uint16(payload)))+" may not be sent")
		case !utf8.Valid(payload[2:]):
			return cn.closeWith(ws.StatusInvalidFramePayloadData, "Close reason is not valid UTF-8")
		default:
			cn.setCloseCode(int(binary.BigEndian.Uint16(payload)))
			cn.writeControl(appendFrame(nil, ws.OpClose, payload[:2]))
		}
		cn.state = stateClosing
		return gnet.Close
	}
	// Data frames, possibly fragmented.
	if !h.Fin {
		x := cn.more()
		if h.OpCode != ws.OpContinuation {
			x.fragOp = h.OpCode
			x.fragDeflated = h.Rsv != 0
		}
		x.frag = append(x.frag, payload...)
		return gnet.None
	}
	op, deflated := h.OpCode, h.Rsv != 0
	if op == ws.OpContinuation {
		x := cn.more()
		x.frag = append(x.frag, payload...)
		payload, op, deflated = x.frag, x.fragOp, x.fragDeflated
		defer func() {
			if cn.x != nil {
				cn.x.frag, cn.x.fragOp, cn.x.fragDeflated = nil, 0, false
				cn.trim()
			}
		}()
	}
	if deflated {
		z := getInflater()
		defer z.release()
		var err error
		if payload, err = z.inflate(payload, cn.maxMessage()); err != nil {
			if err == errInflatedTooBig {
				return cn.closeWith(ws.StatusMessageTooBig, "Maximum message size exceeded: the limit is "+itoa(cn.maxMessage())+" bytes, inflated")
			}
			return cn.closeWith(ws.StatusInvalidFramePayloadData, "Compressed message is not valid DEFLATE data")
		}
	}
	if op == ws.OpText && !utf8.Valid(payload) {
		return cn.closeWith(ws.StatusInvalidFramePayloadData, "Text message is not valid UTF-8")
	}
	if cn.sess == nil {
		return gnet.None
	}
	if cn.loop.srv.opts.Debug {
		cn.loop.srv.debugf("socket %s sent %s", cn.sess.ID(), payload)
	}
	cn.sess.Handle(payload)
	return gnet.None
}

// closeWith starts the close handshake with a status, then lingers.
func (cn *conn) closeWith(code ws.StatusCode, reason string) gnet.Action {
	cn.setCloseCode(int(code))
	cn.writeControl(closeFrame(code, reason))
	if cn.state != stateSocket {
		return gnet.None // the write failed and gnet already closed the connection (OnClose ran)
	}
	cn.linger()
	return gnet.None
}

// lingerSeconds bounds a lingering close; the per-loop sweep (once a second)
// closes it, so the fd is released at most lingerSeconds+1 s later.
const lingerSeconds = 2

// linger stops writing after a close frame and discards what the client
// still sends until it closes or lingerSeconds pass. Closing at once while
// the client is still sending (a 2 MB frame over the limit) makes the kernel
// answer with a reset, and the client loses our close frame (1006, not 1009).
func (cn *conn) linger() {
	if sess := cn.sess; sess != nil {
		// The socket is gone for the hub now (presence, connection counts),
		// not when the TCP connection ends; after this callback, as a close
		// would, since the hub may be calling us mid-iteration.
		cn.sess = nil
		if cn.loop.srv.opts.Debug {
			cn.loop.srv.debugf("socket %s closing", sess.ID())
		}
		cn.loop.Execute(sess.Close)
	}
	x := cn.more()
	x.backlog.reset()
	x.frag, x.fragOp, x.fragDeflated = nil, 0, false
	cn.state = stateLingering
	x.lingerUntil = time.Now().Unix() + lingerSeconds
	_, _ = cn.c.Discard(-1)
}

// closeCodeAllowed says whether a peer may put the code in a close frame
// (RFC 6455 section 7.4): 1000-1003, 1007-1014 and 3000-4999.
func closeCodeAllowed(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
