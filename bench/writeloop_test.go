package main

import (
	"bytes"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// Every subscriber gets the frame exactly once, whatever the split: a
// channel too small to split, counts that do not divide evenly over two or
// three writers, more writers than parts allow, and no socket at all.
func TestWriteLoopBroadcastWritesEachSocketOnce(t *testing.T) {
	frame := serverTextFrame([]byte(`{"event":"e","channel":"c","data":"{}"}`))
	for _, c := range []struct{ sockets, writers int }{{7, 3}, {2*writeLoopMinPart + 1, 2}, {3*writeLoopMinPart + 5, 3},
		{3*writeLoopMinPart + 5, 8}, {0, 2}} {
		s := newWriteLoopServer(c.writers, "k")
		var mine, theirs []int
		for range c.sockets {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			mine, theirs = append(mine, fds[0]), append(theirs, fds[1])
		}
		s.broadcast(mine, frame)
		buf := make([]byte, 4*len(frame))
		for i, fd := range theirs {
			if err := unix.SetNonblock(fd, true); err != nil {
				t.Fatal(err)
			}
			n, _ := unix.Read(fd, buf)
			if !bytes.Equal(buf[:max(n, 0)], frame) {
				t.Errorf("%d sockets, %d writers: socket %d read %d bytes, want the frame once (%d)", c.sockets, c.writers, i, n, len(frame))
			}
		}
		closeFDs(mine, theirs)
	}
}

// A socket that cannot take the whole frame is shut down, not left with a
// torn frame that would garble every message after it.
func TestWriteLoopShutsASocketThatTakesPartOfAFrame(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFDs(fds[:1], fds[1:])
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	filler := make([]byte, 1<<16)
	for {
		if n, err := unix.Write(fds[0], filler); n <= 0 || err != nil {
			break
		}
	}
	writeAll(fds[:1], serverTextFrame(filler[:100]))
	if _, err := unix.Write(fds[0], []byte{1}); err != unix.EPIPE {
		t.Errorf("write after a refused frame: %v, want EPIPE (the socket shut down)", err)
	}
}

// The bench's own fan-out and publish path work against it end to end:
// handshake, subscription, signed publishes, every delivery timed.
func TestWriteLoopServerServesTheFanOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go newWriteLoopServer(2, "bench-key").serve(ln)
	o := smokeOptions(t, "fanout", ln.Addr().String())
	r, err := runFanout(o)
	checkRun(t, "fanout against the write loop", r, err)
}
