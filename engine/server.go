// Package engine runs the event loops: it accepts TCP connections with gnet,
// tells WebSocket handshakes from HTTP API requests on the same port, parses
// frames, keeps the heartbeat and hands messages to the hub.
package engine

import (
	"context"
	"fmt"
	"log"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/resound/resound/hub"
)

// Options configure the server. Zero values take the defaults in comments.
type Options struct {
	Host string // "0.0.0.0"
	Port int    // 8080
	// Path is a prefix in front of every route, like Reverb's "path".
	Path string
	// Loops is the number of event loops (one per CPU).
	Loops int
	// MaxOutboundBytes is how much unsent data a socket may hold before it is
	// cut off as a slow consumer (1 MiB).
	MaxOutboundBytes int
	// SocketSendBuffer caps the kernel send buffer (SO_SNDBUF) of every
	// connection, so a socket that stops reading pins at most about twice
	// this in kernel memory (Linux doubles the value) besides
	// MaxOutboundBytes in ours (128 KiB; negative: leave it to the kernel's
	// autotuning, up to net.ipv4.tcp_wmem's maximum, often 4 MiB).
	SocketSendBuffer int
	// ShutdownGrace bounds a graceful stop (5 s).
	ShutdownGrace time.Duration
	// RequestTimeout: an HTTP request's head and body must arrive within it
	// (10 s), so slowloris clients cannot hold connections.
	RequestTimeout time.Duration
	Debug          bool
	Logger         *log.Logger
}

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
	for len(o.Path) > 0 && o.Path[len(o.Path)-1] == '/' {
		o.Path = o.Path[:len(o.Path)-1]
	}
	if o.Path != "" && o.Path[0] != '/' {
		o.Path = "/" + o.Path
	}
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

	eng      gnet.Engine
	loopsMu  sync.Mutex
	loops    []*loop
	started  chan struct{}
	stopping atomic.Bool
	stopped  chan struct{}
	open     atomic.Int64
	maxBody  int
}

// New prepares a server for apps; Run starts it.
func New(apps []hub.AppConfig, opts Options, bus hub.Bus) (*Server, error) {
	opts = opts.withDefaults()
	s := &Server{opts: opts, started: make(chan struct{}), stopped: make(chan struct{})}
	var logf func(string, ...any)
	if opts.Debug {
		logf = s.debugf
	}
	h, err := hub.New(apps, hub.Options{Loops: opts.Loops, Frame: textFrame, Bus: bus, Logf: logf})
	if err != nil {
		return nil, err
	}
	s.hub = h
	s.maxBody = maxBodyBytes(h)
	return s, nil
}

// Hub exposes the hub (for tests and the command).
func (s *Server) Hub() *hub.Hub { return s.hub }

// Addr is the listen address.
func (s *Server) Addr() string { return fmt.Sprintf("%s:%d", s.opts.Host, s.opts.Port) }

// Run serves until Shutdown; it blocks.
func (s *Server) Run() error {
	go s.tick()
	defer close(s.stopped)
	return gnet.Run(s, "tcp://"+s.Addr(),
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.opts.Loops),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(quietLogger{}),
	)
}

// Started is closed once the listener accepts connections.
func (s *Server) Started() <-chan struct{} { return s.started }

// OnBoot records the engine so Shutdown can stop it.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.started)
	return gnet.None
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
	l := &loop{el: el, index: len(s.loops), conns: map[*conn]struct{}{}}
	s.loops = append(s.loops, l)
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
	index int
	conns map[*conn]struct{}
	// Sockets with a backlog, polled while backlogArmed (outbound.go).
	backlogged   []*conn
	backlogArmed bool
}

// Execute runs fn on the loop; it implements hub.Executor.
func (l *loop) Execute(fn func()) {
	_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
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
