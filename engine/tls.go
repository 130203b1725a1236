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
	"sync/atomic"
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
	cut := &relayCut{raw: raw}
	ctx := gnet.NewContext(context.Background(), tlsPeer{raw.RemoteAddr(), cut})
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
	go s.relay(tc, raw, outer, cut)
}

// handshakeCPU lets at most half the cores (at least one) compute TLS
// handshakes at once, so a reconnect storm leaves the event loops the
// other half. It is held from choosing the certificate (the signature and
// key share come next) until the server's flight is written, never across
// a round trip to the client, so a slow client does not hold it.
type handshakeCPU chan struct{}

func newHandshakeCPU() handshakeCPU { return make(handshakeCPU, max(runtime.GOMAXPROCS(0)/2, 1)) }

// meter returns cfg with GetCertificate taking a slot for connections
// wrapped in meteredConn. A static certificate list moves into the picker:
// crypto/tls skips GetCertificate for a client without SNI when the list
// is set, and such a handshake would go unmetered.
func (h handshakeCPU) meter(cfg *tls.Config) *tls.Config {
	cfg = cfg.Clone()
	pick, certs := cfg.GetCertificate, cfg.Certificates
	cfg.Certificates = nil
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if mc, ok := hello.Conn.(*meteredConn); ok && !mc.holding {
			if err := mc.take(hello.Context()); err != nil {
				return nil, err
			}
		}
		if pick != nil {
			if cert, err := pick(hello); cert != nil || err != nil {
				return cert, err
			}
		}
		return fromList(certs, hello)
	}
	return cfg
}

// fromList chooses as crypto/tls does without GetCertificate: the first
// certificate the client supports, else the first.
func fromList(certs []tls.Certificate, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(certs) == 0 {
		return nil, errNoCertificate
	}
	if len(certs) > 1 {
		for i := range certs {
			if hello.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
	}
	return &certs[0], nil
}

var (
	errNoCertificate  = errors.New("no certificate configured")
	errHandshakesBusy = errors.New("every handshake slot is busy")
	errClientGone     = errors.New("client closed the connection while its handshake waited")
)

// meteredConn gives the slot back at the first write after it was taken:
// the server's flight, computed while holding it.
type meteredConn struct {
	*net.TCPConn
	cpu     handshakeCPU
	holding bool
	// noWait: give up at once when no slot is free (refusals at the cap,
	// which may just be closed instead).
	noWait bool
}

// take waits for a slot until ctx ends (the handshake deadline or the
// client gone), so a handshake nobody waits for any more computes nothing.
func (c *meteredConn) take(ctx context.Context) error {
	var gone <-chan struct{}
	if ctx != nil {
		gone = ctx.Done()
	}
	if c.noWait {
		select {
		case c.cpu <- struct{}{}:
		default:
			return errHandshakesBusy
		}
	} else {
		select {
		case c.cpu <- struct{}{}:
		case <-gone:
			return ctx.Err()
		}
	}
	c.holding = true
	// The wait may have outlasted the deadline (both were ready) or the
	// client, who under a storm gave up long ago: its slot goes back.
	if ctx != nil && ctx.Err() != nil {
		c.release()
		return ctx.Err()
	}
	if peerGone(c.TCPConn) {
		c.release()
		return errClientGone
	}
	return nil
}

// peerGone peeks without blocking: end of stream or an error means the
// client closed or reset the connection.
func peerGone(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	_ = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = (err == nil && n == 0) || (err != nil && err != syscall.EAGAIN && err != syscall.EINTR)
		return true
	})
	return gone
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
	deadline := time.Now().Add(s.opts.HandshakeTimeout)
	_ = raw.SetDeadline(deadline)
	// The context bounds the wait for a handshake slot too, which the
	// socket's deadline does not.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	mc := &meteredConn{TCPConn: raw, cpu: s.handshakeCPU}
	tc := tls.Server(mc, s.meteredTLS)
	err := tc.HandshakeContext(ctx)
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
type tlsPeer struct {
	addr net.Addr
	cut  *relayCut
}

// relayCut tells the relay that the loop closed its end. A relay stuck
// writing to a client that stopped reading would otherwise hold its
// descriptors and buffers for tlsStallTimeout after the loop cut the
// socket off and admission stopped counting it; after the close the
// loop's last bytes get tlsLinger, as when the client ends first.
type relayCut struct {
	raw *net.TCPConn
	// at is the write deadline (Unix nanoseconds) once the loop closed.
	at atomic.Int64
}

// loopClosed runs on the loop at OnClose; setting a deadline does not
// block.
func (r *relayCut) loopClosed() {
	at := time.Now().Add(tlsLinger)
	r.at.Store(at.UnixNano())
	_ = r.raw.SetWriteDeadline(at)
}

// armWrite sets the deadline for the next write to the client. Checked
// again after setting: a close in between may have set its shorter
// deadline first, which this one just overwrote.
func (r *relayCut) armWrite() {
	deadline := func() time.Time {
		d := time.Now().Add(tlsStallTimeout)
		if at := r.at.Load(); at != 0 && at < d.UnixNano() {
			return time.Unix(0, at)
		}
		return d
	}
	_ = r.raw.SetWriteDeadline(deadline())
	if r.at.Load() != 0 {
		_ = r.raw.SetWriteDeadline(deadline())
	}
}

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
func (s *Server) relay(tc *tls.Conn, raw *net.TCPConn, outer *net.UnixConn, cut *relayCut) {
	toClientDone := make(chan struct{})
	go func() {
		defer close(toClientDone)
		s.relayToClient(outer, tc, cut)
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
func (s *Server) relayToClient(outer *net.UnixConn, tc *tls.Conn, cut *relayCut) {
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
		cut.armWrite()
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

// refuseFullTLS answers 503 over TLS when a refusal slot and a handshake
// slot are free (the handshake costs CPU the full node may not have to
// spare), else closes.
func (s *Server) refuseFullTLS(c *net.TCPConn) {
	select {
	case s.tlsRefusals <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-s.tlsRefusals }()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		mc := &meteredConn{TCPConn: c, cpu: s.handshakeCPU, noWait: true}
		tc := tls.Server(mc, s.meteredTLS)
		// The request first, then the answer: an HTTP client takes a
		// response that comes before its request for a broken connection.
		err := tc.HandshakeContext(ctx)
		mc.release()
		if err == nil {
			if _, err := tc.Read(make([]byte, 4096)); err == nil {
				_, _ = tc.Write(s.fullResponse)
			}
		}
		_ = c.Close()
	}()
}
