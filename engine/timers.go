package engine

import (
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
			rules := sweepRules{
				now:              now.Unix(),
				requestTimeout:   s.opts.RequestTimeout,
				handshakeTimeout: s.opts.HandshakeTimeout,
				stopping:         s.stopping.Load(),
			}
			for _, l := range s.allLoops() {
				l.Execute(func() { l.sweep(rules) })
			}
			s.hub.Sweep(now)
		}
	}
}

// sweepRules is what one sweep needs to know, read once per tick.
type sweepRules struct {
	now              int64
	requestTimeout   time.Duration
	handshakeTimeout time.Duration
	stopping         bool
}

// sweep pings sockets that went quiet, closes those that did not answer the
// last ping (4201), and closes slow or idle HTTP connections. Every socket is
// checked, subscribed or not. A connection that has not completed a first
// request within the handshake timeout is closed: silent connections would
// otherwise hold descriptors for the whole keep-alive idle time.
func (l *loop) sweep(r sweepRules) {
	now, requestTimeout := r.now, r.requestTimeout
	// Backwards, since closing a connection moves the last one into its
	// place (removeConn): every connection is still visited once.
	for i := len(l.conns) - 1; i >= 0; i-- {
		if i >= len(l.conns) {
			continue
		}
		cn := l.conns[i]
		switch cn.state {
		case stateSocket:
			if cn.sess == nil || cn.sess.CheckSignin(now) {
				continue
			}
			interval := int64(cn.sess.App().PingInterval)
			if cn.pingedAt != 0 {
				// Signed: a wall clock stepped back must not read as a
				// long wait.
				if int32(uint32(now)-cn.pingedAt) >= int32(interval) {
					cn.Kick(protocol.ErrPongNotReceived, "Pong reply not received in time: answer pusher:ping with pusher:pong")
				}
				continue
			}
			if now-int64(cn.lastSeen) >= interval {
				cn.pingedAt = uint32(now)
				if cn.controlPings {
					cn.writeControl(appendFrame(nil, ws.OpPing, nil))
				} else {
					cn.Send(textFrame(protocol.Ping))
				}
			}
		case stateLingering:
			if cn.x == nil || now >= cn.x.lingerUntil {
				cn.state = stateClosing
				_ = cn.c.Close()
			}
		case stateHTTP:
			if cn.httpBusy {
				continue
			}
			if !cn.greeted {
				since := cn.requestStart()
				if since == 0 {
					since = int64(cn.lastSeen)
				}
				limit, msg := r.handshakeTimeout, "Handshake timeout: no complete request within "+r.handshakeTimeout.String()+" of connecting"
				if r.requestTimeout < limit {
					limit, msg = r.requestTimeout, "Request timeout: the request did not arrive within "+r.requestTimeout.String()
				}
				if now-since >= int64(limit/time.Second) {
					_ = cn.httpError(408, msg)
					_ = cn.c.Close()
				}
				continue
			}
			if r.stopping { // served its last response during a drain
				cn.state = stateClosing
				_ = cn.c.Close()
				continue
			}
			started := cn.requestStart()
			slow := started != 0 && now-started >= int64(requestTimeout/time.Second)
			idle := started == 0 && now-int64(cn.lastSeen) >= int64(idleHTTP/time.Second)
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
