package engine

import (
	"strconv"
	"sync/atomic"

	"github.com/resound/resound/hub"
)

// loopIO counts WebSocket bytes of one event loop. Only that loop writes
// them, so the adds are never contended; the padding keeps two loops'
// counters off one cache line.
type loopIO struct {
	_   [64]byte
	in  atomic.Uint64
	out atomic.Uint64
	// woke is when the loop last started a task or a read (monoNow);
	// nudged is set while an empty task is queued for it (monitor.go).
	woke   atomic.Int64
	nudged atomic.Bool
	_      [36]byte
}

// closeCodes are the close codes counted under their own number; the rest
// (codes only a client would choose) share "other". 1005: the client's
// close frame had no code; 1006: the socket ended without a close frame
// (dropped, or cut off as a slow consumer).
var closeCodes = [...]uint16{1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011,
	4000, 4001, 4003, 4004, 4005, 4009, 4100, 4200, 4201, 4202, 4301}

const otherCloseSlot = len(closeCodes)

func closeSlot(code uint16) int {
	for i, c := range closeCodes {
		if c == code {
			return i
		}
	}
	return otherCloseSlot
}

// countClose records how a socket that had a session ended.
func (s *Server) countClose(code uint16) { s.closed[closeSlot(code)].Add(1) }

// setCloseCode records the first close code a socket sends or receives;
// zero means the connection never had a session and is not counted.
func (cn *conn) setCloseCode(code int) {
	if cn.closeCode == 1006 && code > 0 && code < 65536 {
		cn.closeCode = uint16(code)
	}
}

// wrote counts bytes handed to gnet for a socket.
func (cn *conn) wrote(n int) { cn.loop.io.out.Add(uint64(n)) }

// writeControl writes one frame the engine makes itself (pong, close).
func (cn *conn) writeControl(frame []byte) {
	cn.wrote(len(frame))
	_, _ = cn.c.Write(frame)
	cn.noteUnsent(cn.c.OutboundBuffered())
}

// CloseCount is how many sockets ended with one close code.
type CloseCount struct {
	Code  string
	Count uint64
}

// IOStats are the engine's counters at one moment.
type IOStats struct {
	BytesIn, BytesOut uint64
	// Closed lists codes that closed at least one socket.
	Closed []CloseCount
}

// IOStats reads the engine's counters; any goroutine may call it.
func (s *Server) IOStats() IOStats {
	var st IOStats
	for _, l := range s.allLoops() {
		st.BytesIn += l.io.in.Load()
		st.BytesOut += l.io.out.Load()
	}
	for i := range s.closed {
		n := s.closed[i].Load()
		if n == 0 {
			continue
		}
		code := "other"
		if i < otherCloseSlot {
			code = strconv.Itoa(int(closeCodes[i]))
		}
		st.Closed = append(st.Closed, CloseCount{Code: code, Count: n})
	}
	return st
}

// refused counts a limit the engine enforces.
func (s *Server) refused(r hub.Refusal) { s.hub.Refused(r) }
