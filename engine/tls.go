package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// TLS sockets are terminated off the event loops. The handshake is CPU work
// (an ECDSA or RSA signature) and crypto/tls wants blocking reads, so each
// TLS connection gets a goroutine that shakes hands and then relays
// plaintext through a socketpair; the loop end of the pair is handed to
// gnet like any accepted connection, so the loops run the same code for TLS
// and plain sockets and plain sockets pay nothing. The price per TLS
// socket: two goroutines, crypto/tls's buffers and two more descriptors
// (measured in BENCH.md).

const (
	// tlsStallTimeout: a write to a TLS client that makes no progress for
	// this long ends the connection. The loop end only sees a full
	// socketpair and cuts a slow consumer at max_outbound_bytes; this bounds
	// how long the relay may stay stuck behind a peer that vanished.
	tlsStallTimeout = 60 * time.Second
	// tlsLinger: once the client stopped sending, the loop's last bytes
	// (a close frame) get this long to reach it.
	tlsLinger = 2 * time.Second
	// tlsRelayBuffer is one TLS record's worth of plaintext, borrowed only
	// while bytes are in flight, so an idle TLS socket holds none.
	tlsRelayBuffer = 16 << 10
	// tlsClientReadBuffer is the relay's buffer toward the loop.
	tlsClientReadBuffer = 1024
	// maxTLSRefusals bounds goroutines answering 503 over TLS when the
	// server is full; past it a connection is just closed.
	maxTLSRefusals = 32
)

var relayBuffers = sync.Pool{New: func() any { b := make([]byte, tlsRelayBuffer); return &b }}

// plaintextOnTLS answers a plain HTTP request sent to a TLS port, which a
// misconfigured client or proxy (http:// to an https:// backend) sends.
const plaintextOnTLS = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"This port speaks TLS: use https:// or wss://\n"

// serveTLS shakes hands and relays the connection until either side ends.
func (s *Server) serveTLS(raw *net.TCPConn) {
	handshaking := true
	defer func() {
		if handshaking {
			s.tlsHandshaking.Add(-1)
		}
	}()
	if s.opts.SocketSendBuffer > 0 {
		_ = raw.SetWriteBuffer(s.opts.SocketSendBuffer)
	}
	tc, err := s.tlsHandshake(raw)
	if err != nil {
		return
	}
	inner, outer, err := socketPair()
	if err != nil {
		_ = raw.Close()
		s.tlsLog.Printf("tls-pair", "could not create a socketpair for a TLS connection: %v (closed)", err)
		return
	}
	// Counted as registering before it stops counting as handshaking, so
	// the admission check never sees it missing.
	s.registeringNow.Add(1)
	s.tlsHandshaking.Add(-1)
	handshaking = false
	// The client's address rides along for the debug log: the loop's end
	// of a socketpair has none of its own.
	ctx := gnet.NewContext(context.Background(), tlsPeer{raw.RemoteAddr()})
	ch, err := s.eng.Register(gnet.NewNetConnContext(ctx, inner))
	if err == nil {
		if r := <-ch; r.Err != nil {
			err = r.Err
		}
	} else {
		_ = inner.Close()
	}
	s.registeringNow.Add(-1)
	if err != nil {
		_ = outer.Close()
		_ = raw.Close()
		if !s.stopping.Load() { // a drain stops the engine under handshakes in flight
			s.tlsLog.Printf("tls-register", "could not hand a TLS connection to an event loop: %v (closed)", err)
		}
		return
	}
	// Relayed from a fresh goroutine: this one's stack grew for the
	// handshake's crypto, and an idle socket should not keep it.
	go s.relay(tc, raw, outer)
}

// handshakeCPU lets at most half the cores (at least one) compute TLS
// handshakes at once, so a reconnect storm leaves the event loops the
// other half. It is held from choosing the certificate (the signature and
// key share come next) until the server's flight is written, never across
// a round trip to the client, so a slow client does not hold it.
type handshakeCPU chan struct{}

func newHandshakeCPU() handshakeCPU { return make(handshakeCPU, max(runtime.GOMAXPROCS(0)/2, 1)) }

// meter returns cfg with GetCertificate taking a slot for connections
// wrapped in meteredConn.
func (h handshakeCPU) meter(cfg *tls.Config) *tls.Config {
	cfg = cfg.Clone()
	pick := cfg.GetCertificate
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if mc, ok := hello.Conn.(*meteredConn); ok && !mc.holding {
			h <- struct{}{}
			mc.holding = true
		}
		return pick(hello)
	}
	return cfg
}

// meteredConn gives the slot back at the first write after it was taken:
// the server's flight, computed while holding it.
type meteredConn struct {
	*net.TCPConn
	cpu     handshakeCPU
	holding bool
}

func (c *meteredConn) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	c.release()
	return n, err
}

func (c *meteredConn) release() {
	if c.holding {
		c.holding = false
		<-c.cpu
	}
}

// tlsHandshake runs the handshake within handshake_timeout; failures are
// clients' business (scanners, wrong protocol), logged at most once a
// second.
func (s *Server) tlsHandshake(raw *net.TCPConn) (*tls.Conn, error) {
	_ = raw.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	mc := &meteredConn{TCPConn: raw, cpu: s.handshakeCPU}
	tc := tls.Server(mc, s.meteredTLS)
	err := tc.Handshake()
	mc.release() // a handshake that failed before writing
	if err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader[:]) {
			_, _ = raw.Write([]byte(plaintextOnTLS))
			_ = raw.CloseWrite()
			_, _ = raw.Read(make([]byte, 4096))
		}
		_ = raw.Close()
		// A connection closed before its ClientHello is a TCP health check
		// or a port scan, not news.
		if !errors.Is(err, io.EOF) {
			s.tlsLog.Printf("tls-handshake", "TLS handshake from %s failed: %v", raw.RemoteAddr(), err)
		}
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	return tc, nil
}

// tlsPeer is the gnet context a TLS connection opens with (OnOpen).
type tlsPeer struct{ addr net.Addr }

func looksLikeHTTP(head []byte) bool {
	switch string(head) {
	case "GET /", "POST ", "HEAD ", "PUT /", "OPTIO", "DELET", "PATCH":
		return true
	}
	return false
}

// relay copies plaintext both ways. The client's end (EOF or error) shuts
// the loop's direction so the loop sees a close; the loop closing its end
// closes the TLS connection with close_notify.
func (s *Server) relay(tc *tls.Conn, raw *net.TCPConn, outer *net.UnixConn) {
	toClientDone := make(chan struct{})
	go func() {
		defer close(toClientDone)
		s.relayToClient(outer, tc, raw)
		_ = tc.Close()
	}()
	// Held while the client is idle, so small: client messages are pings,
	// subscribes and whispers; a larger one takes a few copies.
	buf := make([]byte, tlsClientReadBuffer)
	for {
		n, err := tc.Read(buf)
		if n > 0 {
			if _, werr := outer.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = outer.CloseWrite()
	select {
	case <-toClientDone:
	case <-time.After(tlsLinger):
		_ = raw.Close()
		<-toClientDone
	}
	_ = outer.Close()
}

// relayToClient waits for the loop's bytes without holding a buffer, then
// borrows one for the copy, so an idle TLS socket costs no relay buffer.
func (s *Server) relayToClient(outer *net.UnixConn, tc *tls.Conn, raw *net.TCPConn) {
	rc, err := outer.SyscallConn()
	if err != nil {
		return
	}
	for {
		var bp *[]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			if bp == nil {
				bp = relayBuffers.Get().(*[]byte)
			}
			n, rerr = syscall.Read(int(fd), *bp)
			if rerr == syscall.EAGAIN {
				relayBuffers.Put(bp)
				bp = nil
				return false
			}
			return true
		})
		if err != nil || rerr != nil || n <= 0 {
			if bp != nil {
				relayBuffers.Put(bp)
			}
			return
		}
		_ = raw.SetWriteDeadline(time.Now().Add(tlsStallTimeout))
		_, werr := tc.Write((*bp)[:n])
		relayBuffers.Put(bp)
		if werr != nil {
			return
		}
	}
}

// socketPair returns two connected unix stream sockets: the first for the
// event loop, the second for the relay.
func socketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	a, err := fileConn(fds[0])
	if err != nil {
		_ = syscall.Close(fds[1])
		return nil, nil, err
	}
	b, err := fileConn(fds[1])
	if err != nil {
		_ = a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

func fileConn(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "socketpair")
	c, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil
}

// refuseFullTLS answers 503 over TLS when a refusal slot is free (the
// handshake costs CPU the full node may not have to spare), else closes.
func (s *Server) refuseFullTLS(c *net.TCPConn) {
	select {
	case s.tlsRefusals <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-s.tlsRefusals }()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		tc := tls.Server(c, s.opts.TLS)
		// The request first, then the answer: an HTTP client takes a
		// response that comes before its request for a broken connection.
		if tc.Handshake() == nil {
			if _, err := tc.Read(make([]byte, 4096)); err == nil {
				_, _ = tc.Write(s.fullResponse)
			}
		}
		_ = c.Close()
	}()
}
