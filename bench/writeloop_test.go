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
		t.Cleanup(func() { closeFDs(mine, theirs) })
		for range c.sockets {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			mine, theirs = append(mine, fds[0]), append(theirs, fds[1])
		}
		s.broadcast(mine, frame)
		buf := make([]byte, 4*len(frame))
		for i, fd := range theirs {
			n, _ := unix.Read(fd, buf)
			if !bytes.Equal(buf[:max(n, 0)], frame) {
				t.Errorf("%d sockets, %d writers: socket %d read %d bytes, want the frame once (%d)", c.sockets, c.writers, i, n, len(frame))
			}
		}
	}
}

// A socket that cannot take a whole frame is shut down, not left with a
// torn frame that would garble every message after it: one whose buffer is
// full takes nothing, one with a small buffer takes part of a big frame.
func TestWriteLoopShutsASocketThatCannotTakeAFrame(t *testing.T) {
	pair := func() [2]int {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeFDs(fds[:1], fds[1:]) })
		return fds
	}
	shut := func(name string, fd int) {
		if _, err := unix.Write(fd, []byte{1}); err != unix.EPIPE {
			t.Errorf("%s: write after the frame: %v, want EPIPE (the socket shut down)", name, err)
		}
	}
	full := pair()
	filler := make([]byte, 1<<16)
	for {
		if n, err := unix.Write(full[0], filler); n <= 0 || err != nil {
			break
		}
	}
	writeAll(full[:1], serverTextFrame(filler[:100]))
	shut("full buffer", full[0])

	// Whether this kernel takes part of a big frame into a small buffer at
	// all: probed on a pair of its own.
	small := pair()
	if err := unix.SetsockoptInt(small[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	big := serverTextFrame(make([]byte, 256<<10))
	if n, _ := writeFrame(small[0], big); n <= 0 || n >= len(big) {
		t.Skipf("the kernel took %d of %d bytes at once; no partial write to test", n, len(big))
	}
	partial := pair()
	if err := unix.SetsockoptInt(partial[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	writeAll(partial[:1], big)
	shut("part of a frame", partial[0])
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
