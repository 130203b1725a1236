package main

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/flate"
)

// permessage-deflate on the subscriber side, for measuring compressed
// fan-out: the offer a browser sends, and an inflater per client loop
// (servers that answer with client/server_no_context_takeover compress each
// message on its own, and the bench never compresses what it sends).

func deflateOfferHeader(on bool) string {
	if !on {
		return ""
	}
	return "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
}

type inflater struct {
	r   io.ReadCloser
	src bytes.Reader
	out bytes.Buffer
}

// deflateTail restores the stripped sync-flush block and ends the stream.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

func (z *inflater) inflate(payload []byte) ([]byte, error) {
	in := make([]byte, 0, len(payload)+len(deflateTail))
	in = append(append(in, payload...), deflateTail...)
	z.src.Reset(in)
	if z.r == nil {
		z.r = flate.NewReader(&z.src)
	} else if err := z.r.(flate.Resetter).Reset(&z.src, nil); err != nil {
		return nil, err
	}
	z.out.Reset()
	if _, err := z.out.ReadFrom(z.r); err != nil {
		return nil, err
	}
	return z.out.Bytes(), nil
}

// onCompressed inflates one compressed message and handles it. A server
// that compresses when the client did not offer it is an error.
func (l *clientLoop) onCompressed(c *wsConn, payload []byte) {
	if !l.spec.Deflate {
		l.st.serverErrors++
		l.st.lastError = "compressed frame without permessage-deflate offered"
		return
	}
	if l.inflate == nil {
		l.inflate = &inflater{}
	}
	msg, err := l.inflate.inflate(payload)
	if err != nil {
		l.st.serverErrors++
		l.st.lastError = "inflating a compressed message: " + err.Error()
		return
	}
	l.st.compressed++
	l.onMessage(c, msg)
}
