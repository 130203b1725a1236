package engine

import (
	"context"
	"time"

	"github.com/resound/resound/protocol"
)

const (
	drainTick = 10 * time.Millisecond
	// drainMinRate: a small node closes at least this many sockets a second
	// however long the window, since so few reconnects are no stampede.
	drainMinRate = 50
)

// Draining reports whether a drain has begun: /ready answers 503 from then on.
func (s *Server) Draining() bool { return s.draining.Load() }

// Drain takes the node out of service and returns when the engine stopped:
// /ready turns 503 at once; the node serves as before for DrainDelay (unless
// skipDelay) so load balancers stop sending it clients; then it stops
// accepting and closes its sockets with 4200 spread over DrainWindow. A call
// while a drain is running hurries it instead (see Shutdown).
func (s *Server) Drain(skipDelay bool) {
	if !s.draining.CompareAndSwap(false, true) {
		s.hurryUp()
		return
	}
	defer close(s.drained)
	<-s.started
	if d := s.opts.DrainDelay; d > 0 && !skipDelay {
		s.opts.Logger.Printf("draining: /ready answers 503; serving %s more (drain_delay), then closing %d connections over %s (drain_window)",
			d, s.open.Load(), max(s.opts.DrainWindow, 0))
		select {
		case <-time.After(d):
		case <-s.hurry:
		}
	}
	s.stopAccepting()
	s.closeSockets()
	s.awaitClosed()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.eng.Stop(ctx)
	_ = s.hub.Close()
}

// awaitClosed gives clients ShutdownGrace to go after their 4200 (one
// second once hurried).
func (s *Server) awaitClosed() {
	start := time.Now()
	for s.open.Load() > 0 {
		grace := s.opts.ShutdownGrace
		select {
		case <-s.hurry:
			grace = min(grace, time.Second)
		default:
		}
		if time.Since(start) >= grace {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Shutdown stops as fast as is still clean: no delay, every socket gets
// 4200 at once. During a drain it cuts the drain short.
func (s *Server) Shutdown() {
	s.hurryUp()
	s.Drain(true)
}

func (s *Server) hurryUp() { s.hurryOnce.Do(func() { close(s.hurry) }) }

// stopAccepting closes the listener and every idle API connection; busy
// ones close after their response (sweep), and an upgrade arriving on an
// open connection is refused with 4200.
func (s *Server) stopAccepting() {
	s.stopping.Store(true)
	_ = s.ln.Close()
	for _, l := range s.allLoops() {
		l.Execute(l.closeIdleHTTP)
	}
}

func (l *loop) closeIdleHTTP() {
	l.eachConn(func(cn *conn) {
		if cn.state == stateHTTP && !cn.httpBusy {
			cn.state = stateClosing
			_ = cn.c.Close()
		}
	})
}

// closeSockets sends 4200 to every socket at an even pace over the window,
// each loop closing its share tick by tick; a hurry closes the rest at once.
func (s *Server) closeSockets() {
	loops := s.allLoops()
	counts := make(chan int, len(loops))
	for _, l := range loops {
		l.Execute(func() {
			l.drainQueue, l.drainDone = l.drainQueue[:0], 0
			for _, cn := range l.conns {
				if cn.state == stateSocket {
					l.drainQueue = append(l.drainQueue, cn)
				}
			}
			counts <- len(l.drainQueue)
		})
	}
	total := 0
	for range loops {
		select {
		case n := <-counts:
			total += n
		case <-time.After(time.Second): // a loop that does not answer has stopped
		}
	}
	ticks := drainTicks(total, s.opts.DrainWindow)
	s.opts.Logger.Printf("draining: closing %d sockets with 4200 over %s", total, time.Duration(ticks)*drainTick)
	t := time.NewTicker(drainTick)
	defer t.Stop()
	for i := 1; i <= ticks; i++ {
		if i > 1 {
			select {
			case <-t.C:
			case <-s.hurry:
				i = ticks
			}
		}
		for _, l := range loops {
			l.Execute(func() { l.kickDrainShare(i, ticks) })
		}
	}
}

// drainTicks is how many ticks the closes take: the window, shortened so
// the pace is at least drainMinRate; one tick closes everything at once.
func drainTicks(sockets int, window time.Duration) int {
	if window <= 0 || sockets <= 1 {
		return 1
	}
	if atMinRate := time.Duration(sockets) * time.Second / drainMinRate; atMinRate < window {
		window = atMinRate
	}
	return max(int(window/drainTick), 1)
}

// kickDrainShare closes this loop's sockets up to its share of tick i of n.
func (l *loop) kickDrainShare(i, n int) {
	upTo := (len(l.drainQueue)*i + n - 1) / n
	for ; l.drainDone < upTo; l.drainDone++ {
		cn := l.drainQueue[l.drainDone]
		l.drainQueue[l.drainDone] = nil
		cn.Kick(protocol.ErrReconnect, "Server is shutting down: reconnect")
	}
}
