package main

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestKernelTimestampParse(t *testing.T) {
	oob := make([]byte, 32)
	binary.NativeEndian.PutUint64(oob[0:], 32)
	binary.NativeEndian.PutUint32(oob[8:], uint32(unix.SOL_SOCKET))
	binary.NativeEndian.PutUint32(oob[12:], uint32(unix.SCM_TIMESTAMPNS))
	binary.NativeEndian.PutUint64(oob[16:], 1700000000)
	binary.NativeEndian.PutUint64(oob[24:], 123)
	if got := kernelTimestamp(oob); got != 1700000000*1e9+123 {
		t.Fatalf("got %d", got)
	}
	if kernelTimestamp(nil) != 0 || kernelTimestamp(oob[:10]) != 0 {
		t.Fatal("short buffers must yield 0")
	}
}

// The kernel really delivers a timestamp for TCP reads, close to now.
func TestKernelTimestampFromLoopbackTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, _ := c.(*net.TCPConn).SyscallConn()
	raw.Control(func(fd uintptr) { enableKernelTimestamps(int(fd)) })
	// The kernel turns timestamping on through a deferred static key, so the
	// first segments after the very first enable may carry none: retry.
	var ts int64
	before := time.Now().UnixNano()
	for try := 0; try < 20 && ts == 0; try++ {
		s.Write([]byte("y"))
		time.Sleep(20 * time.Millisecond)
		raw.Read(func(fd uintptr) bool {
			buf, oob := make([]byte, 16), make([]byte, oobSize)
			_, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, 0)
			if err == nil {
				ts = kernelTimestamp(oob[:oobn])
			}
			return true
		})
	}
	if ts < before || ts > time.Now().UnixNano() {
		t.Fatalf("kernel timestamp %d not within the test window [%d, now]", ts, before)
	}
}
