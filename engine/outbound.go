package engine

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/resound/resound/hub"
)

// Outbound accounting for slow consumers.
//
// gnet copies whatever the kernel does not take into a per-socket buffer: a
// ring that grows by doubling, then a list of power-of-two sized copies of
// each frame. A slow socket fed through it costs up to twice its unsent
// bytes, plus the garbage of every ring growth, and a check made after the
// write lets one batch overshoot. So a socket hands gnet only what the kernel
// is likely to take: while gnet still holds unsent bytes for it, further
// frames wait in the socket's backlog as references to the frames the hub
// shares between subscribers (no copy per socket). The bound counts gnet's
// unsent bytes, the backlog and the batch being added, and is checked before
// anything is queued.

// backlogPoll is how often a loop looks at its backlogged sockets: gnet has
// no "writable" callback, and one timer per loop (armed only while some
// socket there is backlogged) is cheaper than one per socket.
const backlogPoll = 10 * time.Millisecond

// backlogChunk is the most handed to gnet in one write from a backlog, so
// what gnet copies for a socket stays small.
const backlogChunk = 64 << 10

// outbound is the per-socket backlog: frames not yet handed to gnet.
type outbound struct {
	frames [][]byte
	head   int // frames[:head] were written and released
	bytes  int
}

func (o *outbound) empty() bool { return o.head == len(o.frames) }

func (o *outbound) push(frames [][]byte, size int) {
	if o.head > 0 && o.head == len(o.frames) {
		o.frames, o.head = o.frames[:0], 0
	}
	o.frames = append(o.frames, frames...)
	o.bytes += size
}

// next returns up to backlogChunk bytes of frames (at least one frame) and
// their size.
func (o *outbound) next() ([][]byte, int) {
	end, size := o.head, 0
	for end < len(o.frames) && (end == o.head || size+len(o.frames[end]) <= backlogChunk) {
		size += len(o.frames[end])
		end++
	}
	return o.frames[o.head:end], size
}

// release drops the first n frames, size bytes, handed to gnet (whose
// writev may have shortened them in place: size is counted before).
func (o *outbound) release(n, size int) {
	for i := o.head; i < o.head+n; i++ {
		o.frames[i] = nil
	}
	o.bytes -= size
	o.head += n
	if o.head == len(o.frames) {
		o.frames, o.head, o.bytes = o.frames[:0], 0, 0
		if cap(o.frames) > 256 {
			o.frames = nil
		}
	}
}

func (o *outbound) reset() { *o = outbound{} }

// queuedBytes is everything waiting for this socket: gnet's unsent bytes
// and the backlog.
func (cn *conn) queuedBytes() int {
	if cn.x == nil {
		return cn.c.OutboundBuffered()
	}
	return cn.c.OutboundBuffered() + cn.x.backlog.bytes
}

func (cn *conn) backlogEmpty() bool { return cn.x == nil || cn.x.backlog.empty() }

// Compresses tells the hub whether this socket negotiated
// permessage-deflate (set at the upgrade, before the session exists).
func (cn *conn) Compresses() bool { return cn.deflate }

// Send implements hub.Outbox: one write for all frames when the socket keeps
// up; otherwise the frames wait in the backlog, and a socket whose queue
// would pass max_outbound_bytes is cut off instead of buffered.
func (cn *conn) Send(frames ...[]byte) {
	if cn.state != stateSocket {
		return
	}
	if cn.deflate {
		frames = cn.loop.withTwins(frames)
		defer cn.loop.releaseTwins()
	}
	// Without extra state nothing waits for this socket (see conn.x), so a
	// frame the kernel takes whole is written without reading any of
	// gnet's state: its connection and buffer are two more structs per
	// subscriber to fetch, and that read alone was 2 % of the server's CPU
	// samples at 1,000 subscribers.
	if cn.x == nil || (cn.x.backlog.empty() && cn.c.OutboundBuffered() == 0) {
		trimmable := cn.x != nil
		if cn.write(frames) {
			if trimmable {
				cn.trim()
			}
			return
		}
		if cn.state != stateSocket {
			return // the write failed and gnet closed the connection
		}
		if unsent := cn.c.OutboundBuffered(); unsent > cn.loop.srv.opts.MaxOutboundBytes {
			cn.cutOff()
		} else {
			cn.noteUnsent(unsent)
		}
		return
	}
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	if cn.queuedBytes()+size > cn.loop.srv.opts.MaxOutboundBytes {
		cn.cutOff()
		return
	}
	cn.more().backlog.push(frames, size)
	cn.loop.watchBacklog(cn)
}

// write hands frames to the socket while gnet holds nothing unsent for it,
// and reports whether the kernel took all of them.
func (cn *conn) write(frames [][]byte) (sent bool) {
	if len(frames) == 1 {
		cn.wrote(len(frames[0]))
		rest := cn.writeDirect(frames[0])
		if len(rest) == 0 {
			return true
		}
		_, _ = cn.c.Write(rest)
		return false
	}
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	cn.wrote(n)
	_, _ = cn.c.Writev(frames)
	return false
}

// writeDirect writes one frame to a socket gnet holds nothing unsent for
// and returns what the kernel did not take. It is the broadcast's hot path:
// a non-blocking write(2) returns in microseconds, so it skips the
// runtime's blocking-syscall bookkeeping, which otherwise keeps the
// runtime's monitor thread waking every 20 µs to take the loop's processor
// away during a fan-out. Whatever is left (a full socket buffer, an error)
// goes through gnet, which buffers it or closes the socket as before.
//
// It is send(2) rather than write(2): the same bytes to the same socket
// without the file layer on the way, 2-3 % less server CPU per delivery at
// 10,000 subscribers in alternating runs, within the noise at 1,000
// (bench/results/20261130-1140-send-vs-write-runs.txt). MSG_NOSIGNAL only
// saves the signal the runtime would ignore anyway.
func (cn *conn) writeDirect(frame []byte) []byte {
	if len(frame) == 0 {
		return nil
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(cn.fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return frame
	}
	return frame[n:]
}

// noteUnsent keeps Send's shortcut true after a write through gnet: a socket
// that gnet holds unsent bytes for (unsent, its OutboundBuffered) gets extra
// state, kept until trim finds gnet's buffer empty.
func (cn *conn) noteUnsent(unsent int) {
	if cn.x == nil && cn.state == stateSocket && unsent > 0 {
		cn.x = &connExtra{}
	}
}

// cutOff closes a slow consumer: it cannot read a close frame anyway.
func (cn *conn) cutOff() {
	cn.loop.srv.refused(hub.RefusedSlowConsumer)
	if cn.loop.srv.opts.Debug && cn.sess != nil {
		cn.loop.srv.debugf("socket %s cut off: over %d bytes unsent (slow consumer)", cn.sess.ID(), cn.loop.srv.opts.MaxOutboundBytes)
	}
	cn.x = nil
	cn.state = stateClosing
	_ = cn.c.Close()
}

// flushBacklog hands the backlog to gnet while gnet has nothing unsent,
// and reports whether some is left.
func (cn *conn) flushBacklog() bool {
	for cn.state == stateSocket && !cn.backlogEmpty() {
		if cn.c.OutboundBuffered() > 0 {
			return true
		}
		chunk, size := cn.x.backlog.next()
		n := len(chunk)
		cn.write(chunk)
		if cn.x == nil { // the write closed it
			break
		}
		cn.x.backlog.release(n, size)
	}
	if cn.state != stateSocket && cn.x != nil {
		cn.x.backlog.reset()
	}
	return false
}

// watchBacklog makes the loop poll cn until its backlog is written.
func (l *loop) watchBacklog(cn *conn) {
	if cn.backlogWatched {
		return
	}
	cn.backlogWatched = true
	l.backlogged = append(l.backlogged, cn)
	if !l.backlogArmed {
		l.backlogArmed = true
		time.AfterFunc(backlogPoll, func() { l.Execute(l.pollBacklogs) })
	}
}

func (l *loop) pollBacklogs() {
	l.backlogArmed = false
	kept := l.backlogged[:0]
	for _, cn := range l.backlogged {
		if cn.flushBacklog() {
			kept = append(kept, cn)
		} else {
			cn.backlogWatched = false
			cn.trim()
		}
	}
	clear(l.backlogged[len(kept):])
	l.backlogged = kept
	if len(kept) > 0 {
		l.backlogArmed = true
		time.AfterFunc(backlogPoll, func() { l.Execute(l.pollBacklogs) })
	}
}
