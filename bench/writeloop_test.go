package main

import (
	"bytes"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// Every subscriber gets the frame exactly once, whatever the split: counts
// that do not divide evenly, fewer sockets than writers, and none.
func TestWriteLoopBroadcastWritesEachSocketOnce(t *testing.T) {
	frame := serverTextFrame([]byte(`{"event":"e","channel":"c","data":"{}"}`))
	for _, c := range []struct{ sockets, writers int }{{7, 3}, {2, 4}, {1, 1}, {10, 2}, {0, 2}} {
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
		for i, fd := range theirs {
			if err := unix.SetNonblock(fd, true); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4*len(frame))
			n, _ := unix.Read(fd, buf)
			if !bytes.Equal(buf[:max(n, 0)], frame) {
				t.Errorf("%d sockets, %d writers: socket %d read %d bytes, want the frame once (%d)", c.sockets, c.writers, i, n, len(frame))
			}
		}
		if s.short.Load() != 0 {
			t.Errorf("%d short writes", s.short.Load())
		}
		closeFDs(mine, theirs)
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
