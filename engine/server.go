// Package engine runs the event loops: it accepts TCP connections with gnet,
// tells WebSocket handshakes from HTTP API requests on the same port, parses
// frames, keeps the heartbeat and hands messages to the hub.
package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/resound/resound/hub"
	"github.com/resound/resound/internal/ratelog"
	"github.com/resound/resound/protocol"
)

// Options configure the server. Zero values take the defaults in comments.
type Options struct {
	Host string // "0.0.0.0"
	Port int    // 8080
	// Path is a prefix in front of every route, like Reverb's "path".
	Path string
	// Loops is the number of event loops (one per CPU).
	Loops int
	// PinLoops binds each event loop to a CPU of its own when there is one
	// loop per CPU the process may use (affinity.go); otherwise, or when
	// false, the kernel places the loops.
	PinLoops bool
	// MaxOutboundBytes is how much unsent data a socket may hold before it is
	// cut off as a slow consumer (1 MiB).
	MaxOutboundBytes int
	// SocketSendBuffer caps the kernel send buffer (SO_SNDBUF) of every
	// connection, so a socket that stops reading pins at most about twice
	// this in kernel memory (Linux doubles the value) besides
	// MaxOutboundBytes in ours (128 KiB; negative: leave it to the kernel's
	// autotuning, up to net.ipv4.tcp_wmem's maximum, often 4 MiB).
	SocketSendBuffer int
	// ShutdownGrace bounds how long closed sockets may take to go once the
	// drain has told them all to reconnect (5 s).
	ShutdownGrace time.Duration
	// MaxTotalConnections caps every TCP connection (sockets, API
	// keep-alive, not yet upgraded); the excess gets a 503 (the open-file
	// limit minus a reserve).
	MaxTotalConnections int
	// HandshakeTimeout: a connection must send its first complete request
	// (upgrade or API) within it (5 s).
	HandshakeTimeout time.Duration
	// DrainDelay: after a drain starts, /ready answers 503 but the node
	// serves as before for this long, so load balancers take it out (5 s;
	// negative: none).
	DrainDelay time.Duration
	// DrainWindow spreads the 4200 closes over this long so clients do not
	// reconnect all at once (10 s; negative: all at once).
	DrainWindow time.Duration
	// RequestTimeout: an HTTP request's head and body must arrive within it
	// (10 s), so slowloris clients cannot hold connections.
	RequestTimeout time.Duration
	// MemoryReturnInterval: after a burst of connections has settled, the
	// server runs one garbage collection and returns free memory to the OS,
	// at most this often and only when the Go heap grew by at least 4 MiB
	// and a quarter since the last time (10 s; negative: never, leaving it
	// to the Go runtime's own pacing).
	MemoryReturnInterval time.Duration
	// NoCompression turns permessage-deflate off for every app, whatever
	// the apps' own compression setting.
	NoCompression bool
	// TLS, when set, makes every connection on the port TLS (wss://,
	// https://), terminated off the event loops (tls.go).
	TLS    *tls.Config
	Debug  bool
	Logger *log.Logger
}

// WithDefaults fills in what the zero values stand for (for the startup
// summary of the effective config).
func (o Options) WithDefaults() Options { return o.withDefaults() }

func (o Options) withDefaults() Options {
	if o.Host == "" {
		o.Host = "0.0.0.0"
	}
	if o.Port == 0 {
		o.Port = 8080
	}
	if o.Loops <= 0 {
		o.Loops = runtime.NumCPU()
	}
	if o.MaxOutboundBytes <= 0 {
		o.MaxOutboundBytes = 1 << 20
	}
	if o.SocketSendBuffer == 0 {
		o.SocketSendBuffer = 128 << 10
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 5 * time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.DrainDelay == 0 {
		o.DrainDelay = 5 * time.Second
	}
	if o.MemoryReturnInterval == 0 {
		o.MemoryReturnInterval = 10 * time.Second
	}
	if o.DrainWindow == 0 {
		o.DrainWindow = 10 * time.Second
	}
	if o.MaxTotalConnections <= 0 {
		o.MaxTotalConnections = int(defaultMaxTotal(fdLimit()))
		if o.TLS != nil {
			// A TLS connection holds three descriptors: the TCP socket
			// and both ends of the socketpair to the loop.
			o.MaxTotalConnections = max(o.MaxTotalConnections/3, 1)
		}
	}
	o.Path = protocol.RoutePrefix(o.Path)
	if o.Logger == nil {
		o.Logger = log.Default()
	}
	return o
}

// Server is one node's listener and event loops.
type Server struct {
	gnet.BuiltinEventEngine
	opts Options
	hub  *hub.Hub
	http HTTPHandler

	eng     gnet.Engine
	loopsMu sync.Mutex
	loops   []*loop
	// loopCPUs is the CPU of each loop when they are pinned (nil: not).
	loopCPUs    []int
	started     chan struct{}
	startedOnce sync.Once
	// unreachableDir holds gnet's own unix listener until the loops run.
	unreachableDir string
	stopped        chan struct{}
	open           atomic.Int64
	// opened counts every connection ever opened; returnMemory watches it.
	opened  atomic.Uint64
	maxBody int
	// closed counts ended sockets by close code (stats.go).
	closed [otherCloseSlot + 1]atomic.Uint64

	// Accepting (accept.go): registeringNow counts connections accepted but
	// not yet opened on a loop; the full* fields are the acceptor's alone.
	ln             *net.TCPListener
	maxTotal       int64
	fullResponse   []byte
	registering    chan (<-chan gnet.RegisteredResult)
	registeringNow atomic.Int64
	fullSince      time.Time
	fullLoggedAt   time.Time
	fullLogged     bool

	// TLS (tls.go): tlsHandshaking counts connections accepted but not yet
	// handed to a loop; tlsRefusals bounds the 503s answered over TLS at
	// once.
	tlsHandshaking atomic.Int64
	handshakeCPU   handshakeCPU
	meteredTLS     *tls.Config
	tlsRefusals    chan struct{}
	tlsLog         *ratelog.Logger

	// Draining (drain.go): draining turns /ready to 503; stopping refuses new
	// connections; hurry (closed by a second signal) cuts every wait short.
	draining  atomic.Bool
	stopping  atomic.Bool
	hurry     chan struct{}
	hurryOnce sync.Once
	drained   chan struct{}
}

// New prepares a server for apps; Run starts it. shared holds the state
// shared with other nodes (Bus, Cache, Presence, Occupancy, Liveness; nil
// fields mean one node, in memory); the server fills in the rest.
func New(apps []hub.AppConfig, opts Options, shared hub.Options) (*Server, error) {
	opts = opts.withDefaults()
	s := &Server{opts: opts, started: make(chan struct{}), stopped: make(chan struct{}),
		hurry: make(chan struct{}), drained: make(chan struct{}),
		registering: make(chan (<-chan gnet.RegisteredResult), registeringLimit(opts.Loops)),
		tlsRefusals: make(chan struct{}, maxTLSRefusals), tlsLog: ratelog.New(opts.Logger, time.Second)}
	if opts.TLS != nil {
		s.handshakeCPU = newHandshakeCPU()
		s.meteredTLS = s.handshakeCPU.meter(opts.TLS)
	}
	s.maxTotal = int64(opts.MaxTotalConnections)
	s.fullResponse = fullResponse(s.maxTotal)
	var logf func(string, ...any)
	if opts.Debug {
		logf = s.debugf
	}
	shared.Loops, shared.Frame, shared.AppFrame, shared.Logf = opts.Loops, textFrame, s.appFrame, logf
	h, err := hub.New(apps, shared)
	if err != nil {
		return nil, err
	}
	s.hub = h
	s.maxBody = maxBodyBytes(h)
	return s, nil
}

// Hub exposes the hub (for tests and the command).
func (s *Server) Hub() *hub.Hub { return s.hub }

// Addr is the listen address; an IPv6 host is bracketed.
func (s *Server) Addr() string { return net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)) }

// MaxTotalConnections is the effective server-wide connection cap.
func (s *Server) MaxTotalConnections() int { return int(s.maxTotal) }

// Run serves until a drain or Shutdown finishes; it blocks. It returns an
// error when the engine stopped without being asked to, so a supervisor
// restarts the process.
func (s *Server) Run() error {
	ln, err := listen(s.Addr())
	if err != nil {
		return err
	}
	s.ln = ln
	// Engine.Register only works on an engine with a listener, so gnet gets
	// a unix socket whose path is deleted as soon as the loops run: nothing
	// can ever connect to it, and our listener is the only way in.
	dir, err := os.MkdirTemp("", "resound-engine-")
	if err != nil {
		_ = s.ln.Close()
		return err
	}
	go s.tick()
	go s.nudgeLoops()
	go s.returnMemory()
	go func() {
		select {
		case <-s.started:
			s.acceptLoop()
		case <-s.stopped:
		}
	}()
	s.unreachableDir = dir
	defer os.RemoveAll(dir)
	if s.opts.PinLoops {
		var why string
		if s.loopCPUs, why = loopCPUs(s.opts.Loops); s.loopCPUs != nil {
			s.opts.Logger.Printf("event loops: %d, each pinned to its own CPU (%s)", s.opts.Loops, cpuList(s.loopCPUs))
		} else {
			s.opts.Logger.Printf("event loops: %d, not pinned to CPUs: %s", s.opts.Loops, why)
		}
	}
	spareProcessor(s.opts.Loops)
	err = gnet.Run(s, "unix://"+filepath.Join(dir, "unreachable.sock"),
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.opts.Loops),
		gnet.WithTicker(true),
		gnet.WithLogger(quietLogger{}),
		gnet.WithLockOSThread(s.loopCPUs != nil),
	)
	_ = s.ln.Close()
	close(s.stopped)
	requested := s.draining.Load()
	select {
	case <-s.started:
		if requested {
			<-s.drained // the drain closes the hub
		} else {
			_ = s.hub.Close() // leave nothing behind in Redis before exiting 1
		}
	default: // the engine never started
	}
	return stopVerdict(err, requested)
}

// errUnexpectedStop means the engine stopped with nobody asking it to.
var errUnexpectedStop = errors.New("the event engine stopped without a shutdown request")

// stopVerdict decides how Run ends: only a requested stop is a success.
func stopVerdict(engineErr error, requested bool) error {
	switch {
	case requested:
		return nil
	case engineErr != nil:
		return fmt.Errorf("%w: %v", errUnexpectedStop, engineErr)
	default:
		return errUnexpectedStop
	}
}

// Started is closed once the event loops are ready; connections accepted
// before that wait in the listen backlog.
func (s *Server) Started() <-chan struct{} { return s.started }

// OnBoot records the engine so a drain can stop it.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	return gnet.None
}

// OnTick runs once the event loops exist (OnBoot runs before), which is
// when Engine.Register starts working: that is our "started".
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	s.startedOnce.Do(func() {
		_ = os.RemoveAll(s.unreachableDir)
		close(s.started)
	})
	return time.Hour, gnet.None
}

// loopOf returns our state for the connection's event loop, registering the
// loop with the hub the first time it is seen.
func (s *Server) loopOf(c gnet.Conn) *loop {
	el := c.EventLoop()
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	for _, l := range s.loops {
		if l.el == el {
			return l
		}
	}
	l := &loop{el: el, srv: s, index: len(s.loops), relayCuts: map[*conn]*relayCut{}}
	l.nudgeTask = l.newNudgeTask()
	s.loops = append(s.loops, l)
	if s.loopCPUs != nil {
		cpu := s.loopCPUs[l.index%len(s.loopCPUs)]
		l.Execute(func() {
			if err := pinThread(cpu); err != nil {
				s.opts.Logger.Printf("event loop %d: not pinned to CPU %d: %v", l.index, cpu, err)
				return
			}
			// gnet unlocks the loop's thread when the loop ends; one more
			// lock keeps it ours, so the runtime ends the thread with the
			// loop instead of reusing a thread bound to one CPU.
			runtime.LockOSThread()
		})
	}
	s.hub.AttachLoop(l.index, l)
	return l
}

func (s *Server) allLoops() []*loop {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	return append([]*loop(nil), s.loops...)
}

// loop is our per-event-loop state, touched only on that loop's goroutine
// (except el, index).
type loop struct {
	el    gnet.EventLoop
	srv   *Server
	index int
	// conns is every open connection of the loop (see addConn).
	conns []*conn
	// relayCuts tells TLS relays their socket closed (tls.go); plain
	// sockets have no entry.
	relayCuts map[*conn]*relayCut
	// Sockets with a backlog, polled while backlogArmed (outbound.go).
	backlogged   []*conn
	backlogArmed bool
	// drainQueue holds the sockets a drain closes, in order; drainDone of
	// them are done.
	drainQueue []*conn
	drainDone  int
	// twinScratch is where deflate sockets' frames are swapped for their
	// compressed twins (deflate.go).
	twinScratch [][]byte
	io          loopIO
	// nudgeTask is the empty task that wakes the loop (monitor.go).
	nudgeTask gnet.RunnableFunc
}

// Execute runs fn on the loop; it implements hub.Executor.
func (l *loop) Execute(fn func()) {
	_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		l.io.woke.Store(monoNow())
		fn()
		return nil
	}))
}

func (s *Server) debugf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	s.opts.Logger.Print(line)
}

type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(format string, args ...any) {
	log.Printf("gnet: "+format, args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	log.Fatalf("gnet: "+format, args...)
}

// addConn and removeConn keep the loop's connections in a slice with each
// connection's place in it: 8 bytes a connection where a set cost ~30.
func (l *loop) addConn(cn *conn) {
	cn.slot = int32(len(l.conns))
	l.conns = append(l.conns, cn)
}

func (l *loop) removeConn(cn *conn) {
	i := int(cn.slot)
	if i < 0 || i >= len(l.conns) || l.conns[i] != cn {
		return
	}
	last := len(l.conns) - 1
	l.conns[i] = l.conns[last]
	l.conns[i].slot = int32(i)
	l.conns[last] = nil
	l.conns = l.conns[:last]
	cn.slot = -1
	if cap(l.conns) > 64 && len(l.conns) < cap(l.conns)/4 {
		l.conns = append([]*conn(nil), l.conns...) // give back what a burst left
	}
}

// eachConn calls fn for every connection, fn may close any of them.
func (l *loop) eachConn(fn func(cn *conn)) {
	for i := len(l.conns) - 1; i >= 0; i-- {
		if i < len(l.conns) {
			fn(l.conns[i])
		}
	}
}
