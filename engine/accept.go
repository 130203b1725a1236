package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/resound/resound/hub"
)

// We own the listening socket instead of giving gnet an address: gnet's
// acceptor treats any accept error but EAGAIN/EINTR/ECONNRESET as fatal, so
// one EMFILE at the open-file limit stops every event loop. Here an accept
// error backs off and retries, and each connection is handed to a loop with
// Engine.Register.

const (
	acceptBackoffMin = 10 * time.Millisecond
	acceptBackoffMax = time.Second
)

// registeringLimit bounds connections accepted but not yet opened on a
// loop. Each in flight holds one of gnet's pool goroutines, whose stack
// grows to ~16 KB and stays for 10-20 s after a burst: at 2 loops, 256 cost
// ~200 B per socket at 19k sockets and 32 ~40 B, and handshakes/s were the
// same within run-to-run noise (14-19k/s). More loops take more at once.
func registeringLimit(loops int) int { return max(32, 16*loops) }

// listen binds the address; keep-alive probes stay off as before, since
// the Pusher ping already finds dead peers.
func listen(addr string) (*net.TCPListener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// nextBackoff doubles the pause after a failed accept, within bounds.
func nextBackoff(d time.Duration) time.Duration {
	if d < acceptBackoffMin {
		return acceptBackoffMin
	}
	return min(2*d, acceptBackoffMax)
}

// acceptLoop runs until the listener is closed. It never gives up: a
// failing accept (EMFILE, ENFILE, ENOBUFS, ENOMEM or anything else) backs
// off and is logged once per episode, and accepting resumes by itself.
func (s *Server) acceptLoop() {
	go s.reapRegistrations()
	defer close(s.registering)
	var backoff time.Duration
	var since, lastLogged time.Time
	logged := false
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if backoff == 0 {
				since = time.Now()
				// Under sustained pressure episodes flap; one line per 10 s.
				if time.Since(lastLogged) >= 10*time.Second {
					lastLogged, logged = since, true
					s.opts.Logger.Printf("accept failed: %v; backing off (up to %s) and retrying; %d connections open, max_total_connections %d",
						acceptCause(err), acceptBackoffMax, s.open.Load(), s.maxTotal)
				}
			}
			backoff = nextBackoff(backoff)
			select {
			case <-time.After(backoff):
			case <-s.stopped:
				return
			}
			continue
		}
		if backoff != 0 {
			if logged {
				s.opts.Logger.Printf("accepting again after %s of failed accepts; %d connections open",
					time.Since(since).Round(time.Millisecond), s.open.Load())
				logged = false
			}
			backoff = 0
		}
		s.admit(c)
	}
}

// acceptCause names the errno, which operators search for.
func acceptCause(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EMFILE:
			return "EMFILE (process open-file limit reached)"
		case syscall.ENFILE:
			return "ENFILE (system-wide open-file limit reached)"
		case syscall.ENOBUFS, syscall.ENOMEM:
			return fmt.Sprintf("%s (kernel out of memory for sockets)", errno.Error())
		}
	}
	return err.Error()
}

// admit hands a connection to an event loop, or refuses it when the server
// already holds max_total_connections.
func (s *Server) admit(c *net.TCPConn) {
	// One in hand-over holds two descriptors for a moment (gnet dups it).
	if s.open.Load()+s.tlsHandshaking.Load()+2*s.registeringNow.Load() >= s.maxTotal {
		s.noteFull()
		if s.opts.TLS != nil {
			s.refuseFullTLS(c)
			return
		}
		s.refuseFull(c)
		return
	}
	if s.fullSince != (time.Time{}) {
		if s.fullLogged {
			s.opts.Logger.Printf("below max_total_connections again after %s", time.Since(s.fullSince).Round(time.Millisecond))
			s.fullLogged = false
		}
		s.fullSince = time.Time{}
	}
	if s.opts.TLS != nil {
		s.tlsHandshaking.Add(1)
		go s.serveTLS(c)
		return
	}
	s.registeringNow.Add(1)
	ch, err := s.eng.Register(gnet.NewNetConnContext(context.Background(), c))
	if err != nil {
		s.registeringNow.Add(-1)
		_ = c.Close()
		s.opts.Logger.Printf("could not hand a connection to an event loop: %v (closed)", err)
		return
	}
	s.registering <- ch
}

// reapRegistrations waits for each hand-over in order; a registration ends
// after OnOpen ran (or failed), so a connection is never counted zero times.
func (s *Server) reapRegistrations() {
	var lastLog time.Time
	for ch := range s.registering {
		r := <-ch
		s.registeringNow.Add(-1)
		if r.Err != nil && time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			s.opts.Logger.Printf("could not hand a connection to an event loop: %v (closed)", r.Err)
		}
	}
}

// noteFull counts a refusal at the cap and logs the start of an episode.
func (s *Server) noteFull() {
	s.refused(hub.RefusedTotalConnections)
	if s.fullSince == (time.Time{}) {
		s.fullSince = time.Now()
		// Under churn the cap flaps; one line per 10 s.
		if s.fullSince.Sub(s.fullLoggedAt) >= 10*time.Second {
			s.fullLoggedAt, s.fullLogged = s.fullSince, true
			s.opts.Logger.Printf("max_total_connections (%d) reached: new connections get 503 until some close", s.maxTotal)
		}
	}
}

// refuseFull answers 503 without blocking the acceptor: one non-blocking
// write, one read of what the client already sent (so closing does not
// reset the connection and lose the answer), then close.
func (s *Server) refuseFull(c *net.TCPConn) {
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Write(func(fd uintptr) bool {
			_, _ = syscall.Write(int(fd), s.fullResponse)
			return true
		})
		_ = rc.Read(func(fd uintptr) bool {
			var buf [4096]byte
			_, _ = syscall.Read(int(fd), buf[:])
			return true
		})
	}
	_ = c.Close()
}

// fullResponse is what a connection over max_total_connections receives.
func fullResponse(maxTotal int64) []byte {
	body := "Server full: max_total_connections (" + strconv.FormatInt(maxTotal, 10) +
		") reached; retry later or connect to another node\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
}

// fdLimit is the soft open-file limit; the Go runtime already raised it to
// the hard limit at start.
func fdLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return min(rl.Cur, 1<<24)
}

// defaultMaxTotal leaves a reserve of descriptors below the limit for the
// listener, event-loop pollers, Redis, logs and connections being handed
// over, so in normal operation the cap answers 503 before accept ever
// hits EMFILE.
func defaultMaxTotal(limit uint64) int64 {
	reserve := fdReserve(limit)
	if limit <= 2*reserve {
		return int64(max(limit/2, 1))
	}
	return int64(limit - reserve)
}

func fdReserve(limit uint64) uint64 { return 100 + min(limit/100, 1000) }
