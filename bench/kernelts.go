package main

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Kernel receive timestamps (SO_TIMESTAMPNS) let the bench split latency
// into the part the server and kernel are responsible for (send time ->
// kernel receive) and the part the client added by not reading yet
// ("client lag": kernel receive -> read). On a shared 2-core machine the
// client cannot always keep up with a 10k-socket broadcast; with kernel
// timestamps its delay no longer inflates the server's numbers, and the lag
// column shows when the client was the bottleneck. A read without a
// timestamp (the kernel enables timestamping lazily, so the first segments
// after the first enable may lack one) falls back to the user-space time.

// oobSize fits one SCM_TIMESTAMPNS control message (16-byte header + timespec).
const oobSize = 64

func enableKernelTimestamps(fd int) {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
}

// kernelTimestamp extracts the SCM_TIMESTAMPNS time (unix nanoseconds) from
// a recvmsg control buffer, or 0 if there is none. Parsed by hand because
// unix.ParseSocketControlMessage allocates on every read.
func kernelTimestamp(oob []byte) int64 {
	const hdr = 16 // cmsghdr on 64-bit Linux: len uint64, level int32, type int32
	for off := 0; off+hdr <= len(oob); {
		clen := int(binary.NativeEndian.Uint64(oob[off:]))
		level := int32(binary.NativeEndian.Uint32(oob[off+8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[off+12:]))
		if clen < hdr || off+clen > len(oob) {
			return 0
		}
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && clen >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[off+hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[off+hdr+8:]))
			return sec*1e9 + nsec
		}
		off += (clen + 7) &^ 7
	}
	return 0
}
