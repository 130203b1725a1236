package engine

import (
	"context"
	"time"

	"github.com/gobwas/ws"
	"github.com/resound/resound/protocol"
)

// Timeouts for connections that are not (yet) sockets.
const (
	idleHTTP  = 60 * time.Second // keep-alive API connections idle longer are closed
	tickEvery = time.Second
)

// tick visits every loop once a second instead of keeping a timer per socket.
func (s *Server) tick() {
	<-s.started
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case now := <-t.C:
			for _, l := range s.allLoops() {
				l.Execute(func() { l.sweep(now.Unix(), s.opts.RequestTimeout) })
			}
			s.hub.Sweep(now)
		}
	}
}

// sweep pings sockets that went quiet, closes those that did not answer the
// last ping (4201), and closes slow or idle HTTP connections. Every socket is
// checked, subscribed or not.
func (l *loop) sweep(now int64, requestTimeout time.Duration) {
	for cn := range l.conns {
		switch cn.state {
		case stateSocket:
			if cn.sess == nil {
				continue
			}
			interval := int64(cn.sess.App().PingInterval)
			if cn.pingedAt != 0 {
				if now-cn.pingedAt >= interval {
					cn.Kick(protocol.ErrPongNotReceived, "Pong reply not received in time: answer pusher:ping with pusher:pong")
				}
				continue
			}
			if now-cn.lastSeen >= interval {
				cn.pingedAt = now
				if cn.controlPings {
					_, _ = cn.c.Write(appendFrame(nil, ws.OpPing, nil))
				} else {
					cn.Send(textFrame(protocol.Ping))
				}
			}
		case stateLingering:
			if now >= cn.lingerUntil {
				cn.state = stateClosing
				_ = cn.c.Close()
			}
		case stateHTTP:
			if cn.httpBusy {
				continue
			}
			slow := cn.requestStart != 0 && now-cn.requestStart >= int64(requestTimeout/time.Second)
			idle := cn.requestStart == 0 && now-cn.lastSeen >= int64(idleHTTP/time.Second)
			if slow {
				_ = cn.httpError(408, "Request timeout: the request did not arrive within "+requestTimeout.String())
				_ = cn.c.Close()
			} else if idle {
				cn.state = stateClosing
				_ = cn.c.Close()
			}
		}
	}
}

// Shutdown stops accepting, tells every socket to reconnect elsewhere
// (pusher:error 4200 and a close frame), and stops within the grace period.
func (s *Server) Shutdown() {
	if !s.stopping.CompareAndSwap(false, true) {
		return
	}
	for _, l := range s.allLoops() {
		l.Execute(func() {
			for cn := range l.conns {
				switch cn.state {
				case stateSocket:
					cn.Kick(protocol.ErrReconnect, "Server is shutting down: reconnect")
				case stateHTTP:
					if !cn.httpBusy {
						cn.state = stateClosing
						_ = cn.c.Close()
					}
				}
			}
		})
	}
	deadline := time.Now().Add(s.opts.ShutdownGrace)
	for time.Now().Before(deadline) && s.open.Load() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.eng.Stop(ctx)
	_ = s.hub.Close()
}
