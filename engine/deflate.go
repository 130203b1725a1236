package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/klauspost/compress/flate"
	"github.com/resound/resound/hub"
)

// permessage-deflate (RFC 7692), negotiated without context takeover in
// either direction: every message is compressed on its own, so a socket
// keeps no compressor or decompressor between frames, and one compressed
// broadcast frame is valid on every socket that negotiated the extension.
//
// The hub shares one framed message ([]byte) between all subscribers of a
// broadcast. To fan out compressed frames without a second code path in the
// hub, the compressed frame ("the twin") travels in the plain frame's spare
// capacity, which nobody appends to since the frame is shared:
//
//	[plain frame | twin frame (RSV1 set) | uint32 twin length | twinMagic]
//	 ^ len(frame)                                               ^ cap(frame)
//
// A socket that negotiated deflate writes the twin, the others the plain
// frame: one compression per broadcast, none per socket.

// twinMagic marks a frame that carries a compressed twin; other frames end
// their capacity with zeros (textFrame) or nothing at all.
const twinMagic = "\xffdeflate"

const twinTrailer = 4 + len(twinMagic)

// compressionLevel trades the one compression per broadcast against bytes
// on every subscriber's wire. Measured on a 2 KB JSON event: klauspost's
// level 5 takes ~6 µs, like its level 1 and the standard library's, for
// 15% fewer bytes; level 7 and up take twice as long or more.
const compressionLevel = 5

// deflateResponse is the only answer we give to an offer.
var deflateResponse = wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}.Option()

// negotiateDeflate answers one Sec-WebSocket-Extensions offer: the first
// acceptable permessage-deflate offer is taken (*taken turns true), every
// other option is declined by returning the zero Option.
func negotiateDeflate(opt httphead.Option, taken *bool) httphead.Option {
	if *taken || !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
		return httphead.Option{}
	}
	var p wsflate.Parameters
	if p.Parse(opt) != nil {
		return httphead.Option{} // a malformed offer is declined (RFC 7692 section 5)
	}
	// We compress with a 32 KiB window; a client that can only take a
	// smaller one gets plain frames.
	if p.ServerMaxWindowBits.Defined() && p.ServerMaxWindowBits < 15 {
		return httphead.Option{}
	}
	*taken = true
	return deflateResponse
}

// appFrame returns the frame builder for an app: plain text frames when
// compression is off, otherwise frames that carry a compressed twin from
// the app's compression_min_bytes up.
func (s *Server) appFrame(app hub.AppConfig) func([]byte) []byte {
	if !s.compressionOn(app) {
		return nil
	}
	minBytes := app.CompressionMinBytes
	return func(payload []byte) []byte { return textFrameWithTwin(payload, minBytes) }
}

func (s *Server) compressionOn(app hub.AppConfig) bool {
	return !s.opts.NoCompression && app.CompressionEnabled()
}

// offersDeflate says whether a handshake for the app key may negotiate
// compression.
func (s *Server) offersDeflate(appKey string) bool {
	app := s.hub.AppByKey(appKey)
	return app != nil && s.compressionOn(app.AppConfig)
}

// textFrameWithTwin frames payload as text and, when it is at least
// minBytes and compresses to fewer bytes, attaches the compressed twin.
func textFrameWithTwin(payload []byte, minBytes int) []byte {
	if len(payload) < minBytes {
		return textFrame(payload)
	}
	z := compressors.Get().(*compressor)
	defer z.release()
	compressed := z.compress(payload)
	if len(compressed) >= len(payload) {
		return textFrame(payload)
	}
	plainLen := frameLen(len(payload))
	twinLen := frameLen(len(compressed))
	buf := make([]byte, 0, plainLen+twinLen+twinTrailer)
	buf = appendFrame(buf, ws.OpText, payload)
	buf = appendFrame(buf, ws.OpText, compressed)
	buf[plainLen] |= rsv1
	buf = binary.BigEndian.AppendUint32(buf, uint32(twinLen))
	buf = append(buf, twinMagic...)
	return buf[:plainLen]
}

// rsv1 is the "Per-Message Compressed" bit of a frame's first byte.
const rsv1 = 0x40

// frameLen is the size of an unmasked frame with an n-byte payload.
func frameLen(n int) int {
	switch {
	case n < 126:
		return 2 + n
	case n <= 0xffff:
		return 4 + n
	default:
		return 10 + n
	}
}

// compressedTwin returns the compressed twin a frame carries, or nil.
func compressedTwin(frame []byte) []byte {
	spare := frame[len(frame):cap(frame)]
	if len(spare) <= twinTrailer {
		return nil
	}
	trailer := spare[len(spare)-twinTrailer:]
	if string(trailer[4:]) != twinMagic {
		return nil
	}
	n := int(binary.BigEndian.Uint32(trailer))
	if n > len(spare)-twinTrailer {
		return nil
	}
	return spare[:n:n]
}

// withTwins swaps every frame that has a compressed twin for the twin, in
// the loop's scratch slice (the caller's slice is the hub's and stays as
// it is); releaseTwins drops those references once written or queued.
func (l *loop) withTwins(frames [][]byte) [][]byte {
	out := l.twinScratch[:0]
	swapped := false
	for _, f := range frames {
		if twin := compressedTwin(f); twin != nil {
			f, swapped = twin, true
		}
		out = append(out, f)
	}
	l.twinScratch = out
	if !swapped {
		return frames
	}
	return out
}

func (l *loop) releaseTwins() {
	clear(l.twinScratch)
	if cap(l.twinScratch) > 256 {
		l.twinScratch = nil
	}
}

type compressor struct {
	w   *flate.Writer
	out bytes.Buffer
}

var compressors = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, compressionLevel)
	return &compressor{w: w}
}}

// compress returns payload deflated as one message without context
// takeover, valid until the compressor is released.
func (z *compressor) compress(payload []byte) []byte {
	z.out.Reset()
	z.w.Reset(&z.out)
	_, _ = z.w.Write(payload)
	_ = z.w.Flush()
	// A sync flush ends with an empty stored block, 00 00 ff ff, which the
	// sender removes (RFC 7692 section 7.2.1).
	return bytes.TrimSuffix(z.out.Bytes(), syncFlushTail)
}

func (z *compressor) release() {
	if z.out.Cap() > 1<<20 {
		z.out = bytes.Buffer{}
	}
	compressors.Put(z)
}

var syncFlushTail = []byte{0x00, 0x00, 0xff, 0xff}

// messageTail restores the removed sync-flush block and adds a final empty
// stored block, so the decompressor ends with io.EOF instead of waiting for
// more input.
var messageTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

var (
	errInflatedTooBig = errors.New("inflated message over the limit")
	errBadDeflate     = errors.New("compressed message is not valid DEFLATE data")
)

// inflater decompresses client messages; pooled, so no socket holds one.
type inflater struct {
	r   io.ReadCloser
	in  twoPartReader
	out []byte
}

var inflaters = sync.Pool{New: func() any {
	z := &inflater{}
	z.r = flate.NewReader(&z.in)
	return z
}}

func getInflater() *inflater { return inflaters.Get().(*inflater) }

func (z *inflater) release() {
	z.in = twoPartReader{}
	if cap(z.out) > 64<<10 {
		z.out = nil
	}
	inflaters.Put(z)
}

// inflate decompresses one message, stopping as soon as it passes limit
// bytes (errInflatedTooBig): a small bomb never grows past limit+1 bytes
// here. The result is valid until the inflater is released.
func (z *inflater) inflate(compressed []byte, limit int) ([]byte, error) {
	z.in = twoPartReader{a: compressed, b: messageTail}
	if err := z.r.(flate.Resetter).Reset(&z.in, nil); err != nil {
		return nil, errBadDeflate
	}
	out := z.out[:0]
	if cap(out) == 0 {
		out = make([]byte, 0, min(limit+1, 4<<10))
	}
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)] // grow
		}
		n, err := z.r.Read(out[len(out):min(cap(out), limit+1)])
		out = out[:len(out)+n]
		z.out = out
		if len(out) > limit {
			return nil, errInflatedTooBig
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, errBadDeflate
		}
	}
}

// twoPartReader reads a then b; it is an io.ByteReader so the decompressor
// reads it directly instead of wrapping it in a bufio.Reader.
type twoPartReader struct{ a, b []byte }

func (r *twoPartReader) Read(p []byte) (int, error) {
	if len(r.a) == 0 {
		r.a, r.b = r.b, nil
	}
	if len(r.a) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.a)
	r.a = r.a[n:]
	return n, nil
}

func (r *twoPartReader) ReadByte() (byte, error) {
	if len(r.a) == 0 {
		r.a, r.b = r.b, nil
	}
	if len(r.a) == 0 {
		return 0, io.EOF
	}
	c := r.a[0]
	r.a = r.a[1:]
	return c, nil
}

// compressedWireLimit bounds the compressed bytes of a message whose
// inflated size may be limit: DEFLATE can grow incompressible data a
// little (5 bytes per 64 KiB stored block), and such a message must not be
// refused when its plain form would pass.
func compressedWireLimit(limit int) int { return limit + limit/64 + 64 }

// checkCompressionBit validates a frame's RSV bits on a socket that
// negotiated permessage-deflate: only RSV1, and only on the first frame of
// a data message.
func checkCompressionBit(h ws.Header) error {
	if h.Rsv == 0 {
		return nil
	}
	if h.Rsv != 4 || h.OpCode == ws.OpContinuation || h.OpCode.IsControl() {
		return wsflate.ErrUnexpectedCompressionBit
	}
	return nil
}
