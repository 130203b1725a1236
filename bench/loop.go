package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// clientLoop drives many WebSocket client sockets from one goroutine with
// one epoll instance and raw non-blocking sockets: no goroutine, bufio or
// net.Conn per socket, so the client costs well under 1 KB per idle socket
// and stays far cheaper per message than the server it measures.
//
// All state is owned by whoever holds mu: the loop goroutine holds it while
// it handles one batch of epoll events, and control calls (reset, report,
// whisper rate, close) take it between batches.
type clientLoop struct {
	mu   sync.Mutex
	spec popSpec
	epfd int

	targets []loopTarget
	sources []*unix.SockaddrInet4
	conns   []*wsConn // indexed by fd
	members []*wsConn // subscribed presence members, whisper senders
	events  []unix.EpollEvent
	rbuf    []byte
	oob     []byte
	recvTS  int64 // kernel receive time of the current read, 0 if unknown
	// timedInRead counts the bench messages of the current read timed so far.
	timedInRead int
	wscratch    []byte
	maskRand    uint64

	dialed   int // sockets attempted so far
	inFlight int // dialed but not yet established
	noMoreFD bool

	step      int64 // current measurement step, carried in every bench message
	whisper   whisperState
	now       int64 // unix nanos, refreshed per epoll batch
	nextSweep int64

	st      loopStats
	inflate *inflater // compressed messages (spec.Deflate)
	rssBase int64     // process RSS before any socket, for per-socket deltas

	stopping   atomic.Bool
	whispering atomic.Bool // read without mu to pick the epoll timeout
	done       chan struct{}
}

type loopTarget struct {
	family  int
	sa      unix.Sockaddr
	request []byte
}

// loopStats are the raw counters; report() turns them into popStats.
type loopStats struct {
	opened, failed, subscribed, subFailed int
	connectErrors, handshakeErrors        int
	timeouts, closedByServer, fdLimit     int
	serverErrors                          int
	lastError                             string
	firstDial, lastOpen                   int64
	chanSubs                              map[int]int
	delivered, stale, echoes              uint64
	wireBytes, compressed                 uint64 // bytes read, compressed messages (per step)
	untimed                               uint64 // deliveries timed by the read, not the kernel (per step)
	shared                                uint64 // deliveries that shared a read with a later one (per step)
	whispersSent, whisperExpected         uint64
	latency, handshake, clientLag         histogram
}

const (
	stConnecting = iota + 1
	stHandshaking
	stWaitEstablished
	stSubscribing
	stReady
	stClosed
)

// wsConn is deliberately small: it is the client's per-socket memory.
type wsConn struct {
	fd      int32
	idx     int32 // global socket index
	state   uint8
	started int64  // dial time, for handshake latency and timeouts
	rbuf    []byte // bytes of an incomplete frame (nil almost always)
	wbuf    []byte // unsent bytes after EAGAIN (nil almost always)
	frag    []byte // fragmented message in progress (nil almost always)
}

func newClientLoop(spec popSpec) (*clientLoop, error) {
	ts, err := parseTargets(joinTargets(spec.Targets))
	if err != nil {
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	l := &clientLoop{
		spec:     spec,
		epfd:     epfd,
		events:   make([]unix.EpollEvent, 1024),
		rbuf:     make([]byte, 256<<10),
		oob:      make([]byte, oobSize),
		maskRand: uint64(time.Now().UnixNano()) | 1,
		done:     make(chan struct{}),
	}
	l.st.chanSubs = map[int]int{}
	l.rssBase = selfRSS()
	for _, t := range ts {
		fam, sa := t.sockaddr()
		l.targets = append(l.targets, loopTarget{family: fam, sa: sa, request: buildUpgradeRequestWith(t.HostPort, spec.App.Key, deflateOfferHeader(spec.Deflate))})
	}
	l.sources = sourceAddrs(spec.SourceIPs)
	if l.spec.InFlight <= 0 {
		l.spec.InFlight = 512
	}
	if l.spec.Handshake <= 0 {
		l.spec.Handshake = 10 * time.Second
	}
	go l.run()
	return l, nil
}

func joinTargets(ts []string) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ","
		}
		s += t
	}
	return s
}

func (l *clientLoop) run() {
	defer close(l.done)
	for !l.stopping.Load() {
		timeout := 20
		if l.whispering.Load() {
			timeout = 1 // whispers are paced from this loop
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.mu.Lock()
			l.st.lastError = "epoll_wait: " + err.Error()
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		l.now = time.Now().UnixNano()
		for i := 0; i < n; i++ {
			ev := l.events[i]
			if int(ev.Fd) < len(l.conns) {
				if c := l.conns[ev.Fd]; c != nil {
					l.handleEvent(c, ev.Events)
				}
			}
		}
		l.dialMore()
		l.whisperTick()
		if l.now >= l.nextSweep {
			l.expireHandshakes()
			l.nextSweep = l.now + int64(200*time.Millisecond)
		}
		l.mu.Unlock()
	}
}

// dialMore keeps at most InFlight handshakes outstanding: a burst larger
// than the server's SYN/accept backlog turns into retransmits and
// multi-second outliers that measure the kernel, not the server.
func (l *clientLoop) dialMore() {
	for l.dialed < l.spec.N && l.inFlight < l.spec.InFlight && !l.noMoreFD {
		l.dialOne()
	}
}

func (l *clientLoop) dialOne() {
	idx := l.spec.FirstIndex + l.dialed
	l.dialed++
	if l.st.firstDial == 0 {
		l.st.firstDial = l.now
	}
	t := l.targets[idx%len(l.targets)]
	fd, err := unix.Socket(t.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			// Out of descriptors: everything not yet dialed fails too.
			l.noMoreFD = true
			rest := l.spec.N - l.dialed + 1
			l.st.fdLimit += rest
			l.st.failed += rest
			l.dialed = l.spec.N
			l.st.lastError = "socket: " + err.Error() + " (RLIMIT_NOFILE reached; use more --procs)"
			return
		}
		l.connectFailed("socket: " + err.Error())
		return
	}
	if t.family == unix.AF_INET && len(l.sources) > 0 {
		// Let connect() pick the port per 4-tuple instead of bind() reserving
		// one per source IP: this is what makes source IPs multiply capacity.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, l.sources[idx%len(l.sources)]); err != nil {
			unix.Close(fd)
			l.connectFailed("bind: " + err.Error())
			return
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if l.spec.KernelTS {
		enableKernelTimestamps(fd)
	}
	if err := unix.Connect(fd, t.sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		l.connectFailed("connect: " + err.Error())
		return
	}
	c := &wsConn{fd: int32(fd), idx: int32(idx), state: stConnecting, started: l.now}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		l.connectFailed("epoll_ctl: " + err.Error())
		return
	}
	for fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*wsConn, len(l.conns)+1024)...)
	}
	l.conns[fd] = c
	l.inFlight++
}

func (l *clientLoop) connectFailed(msg string) {
	l.st.failed++
	l.st.connectErrors++
	l.st.lastError = msg
}

func (l *clientLoop) handleEvent(c *wsConn, events uint32) {
	if c.state == stConnecting {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if soErr, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soErr != 0 {
			l.st.connectErrors++
			l.failConn(c, "connect: "+unix.Errno(soErr).Error())
			return
		}
		c.state = stHandshaking
		l.modEvents(c, unix.EPOLLIN)
		l.writeRaw(c, l.targets[int(c.idx)%len(l.targets)].request)
		return
	}
	if events&unix.EPOLLOUT != 0 && len(c.wbuf) > 0 {
		l.flush(c)
	}
	if events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 && c.state != stClosed {
		l.readable(c)
	}
}

func (l *clientLoop) modEvents(c *wsConn, events uint32) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &unix.EpollEvent{Events: events, Fd: c.fd})
}

// expireHandshakes fails sockets stuck before connection_established.
func (l *clientLoop) expireHandshakes() {
	if l.inFlight == 0 {
		return
	}
	deadline := l.now - int64(l.spec.Handshake)
	for _, c := range l.conns {
		if c != nil && c.state < stSubscribing && c.started < deadline {
			l.st.timeouts++
			l.failConn(c, "handshake timeout")
		}
	}
}

// failConn closes a socket that never became usable.
func (l *clientLoop) failConn(c *wsConn, msg string) {
	if c.state == stClosed {
		return
	}
	if c.state < stSubscribing {
		l.inFlight--
		l.st.failed++
	} else {
		l.st.closedByServer++
	}
	l.st.lastError = msg
	l.closeConn(c)
}

func (l *clientLoop) closeConn(c *wsConn) {
	c.state = stClosed
	c.rbuf, c.wbuf, c.frag = nil, nil, nil
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	unix.Close(int(c.fd))
	if int(c.fd) < len(l.conns) && l.conns[c.fd] == c {
		l.conns[c.fd] = nil
	}
}

// writeRaw writes b now, or queues what the socket would not take.
func (l *clientLoop) writeRaw(c *wsConn, b []byte) {
	if c.state == stClosed {
		return
	}
	if len(c.wbuf) > 0 {
		c.wbuf = append(c.wbuf, b...)
		return
	}
	n, err := unix.Write(int(c.fd), b)
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) {
			l.failConn(c, "write: "+err.Error())
			return
		}
		n = 0
	}
	if n < len(b) {
		c.wbuf = append([]byte(nil), b[n:]...)
		l.modEvents(c, unix.EPOLLIN|unix.EPOLLOUT)
	}
}

func (l *clientLoop) flush(c *wsConn) {
	n, err := unix.Write(int(c.fd), c.wbuf)
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) {
			l.failConn(c, "write: "+err.Error())
		}
		return
	}
	if n == len(c.wbuf) {
		c.wbuf = nil
		l.modEvents(c, unix.EPOLLIN)
		return
	}
	c.wbuf = c.wbuf[n:]
}

// sendText sends one masked text frame.
func (l *clientLoop) sendText(c *wsConn, payload []byte) {
	l.sendFrame(c, opText, payload)
}

func (l *clientLoop) sendFrame(c *wsConn, op byte, payload []byte) {
	l.wscratch = appendMaskedFrame(l.wscratch[:0], op, payload, l.nextMask())
	l.writeRaw(c, l.wscratch)
}

// nextMask is xorshift64: masking keys need to be unpredictable to
// intermediaries, not cryptographically random, and this is free.
func (l *clientLoop) nextMask() [4]byte {
	x := l.maskRand
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	l.maskRand = x
	return [4]byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24)}
}
