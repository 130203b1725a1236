package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// readable reads what one socket has (one read per event: epoll is level
// triggered, so leftovers are reported again) and handles complete frames.
func (l *clientLoop) readable(c *wsConn) {
	var n int
	var err error
	if l.spec.KernelTS {
		var oobn int
		n, oobn, _, _, err = unix.Recvmsg(int(c.fd), l.rbuf, l.oob, 0)
		if err == nil {
			l.recvTS = kernelTimestamp(l.oob[:oobn])
			l.timedInRead = 0
		}
	} else {
		n, err = unix.Read(int(c.fd), l.rbuf)
	}
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return
		}
		l.failConn(c, "read: "+err.Error())
		return
	}
	if n == 0 {
		l.failConn(c, "closed by server")
		return
	}
	l.st.wireBytes += uint64(n)
	// Stamp receipt per read, not per epoll batch: a batch of 1024 sockets
	// takes milliseconds to work through, and latency must not hide that.
	l.now = time.Now().UnixNano()
	data := l.rbuf[:n]
	if len(c.rbuf) > 0 {
		data = append(c.rbuf, data...)
	}
	pos := 0
	if c.state == stHandshaking {
		hl, err := parseUpgradeResponse(data)
		if err != nil {
			l.st.handshakeErrors++
			l.failConn(c, err.Error())
			return
		}
		if hl == 0 {
			c.rbuf = append(c.rbuf[:0], data...)
			return
		}
		c.state = stWaitEstablished
		pos = hl
	}
	for pos < len(data) && c.state != stClosed {
		f, used, err := parseFrame(data[pos:])
		if err != nil {
			l.failConn(c, err.Error())
			return
		}
		if used == 0 {
			break
		}
		pos += used
		l.onFrame(c, f)
	}
	if c.state == stClosed {
		return
	}
	if rest := data[pos:]; len(rest) > 0 {
		c.rbuf = append(c.rbuf[:0], rest...) // memmove-safe when rest aliases c.rbuf
	} else {
		c.rbuf = nil // idle sockets keep no buffer
	}
}

func (l *clientLoop) onFrame(c *wsConn, f frame) {
	switch f.opcode {
	case opText, opBinary:
		if !f.fin {
			c.frag = append(c.frag[:0], f.payload...)
			return
		}
		if f.compressed {
			l.onCompressed(c, f.payload)
			return
		}
		l.onMessage(c, f.payload)
	case opContinuation:
		c.frag = append(c.frag, f.payload...)
		if f.fin {
			msg := c.frag
			c.frag = nil
			l.onMessage(c, msg)
		}
	case opPing:
		l.sendFrame(c, opPong, f.payload)
	case opClose:
		l.sendFrame(c, opClose, nil)
		l.failConn(c, "close frame from server")
	}
}

var (
	benchTimeKey = []byte(`bench_t`)
	benchStepKey = []byte(`bench_s`)
	benchFromKey = []byte(`bench_f`)
	pongMessage  = []byte(`{"event":"pusher:pong","data":{}}`)
)

// onMessage handles one Pusher message. Load messages carry bench_t and are
// recognised with a byte scan instead of JSON decoding: at hundreds of
// thousands of deliveries per second the client must stay cheap.
func (l *clientLoop) onMessage(c *wsConn, msg []byte) {
	if i := bytes.Index(msg, benchTimeKey); i >= 0 {
		l.onBenchMessage(c, msg[i:])
		return
	}
	var m struct {
		Event   string          `json:"event"`
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		l.st.serverErrors++
		l.st.lastError = "bad JSON from server: " + truncate(string(msg), 120)
		return
	}
	switch m.Event {
	case "pusher:connection_established":
		l.onEstablished(c, m.Data)
	case "pusher_internal:subscription_succeeded":
		if c.state == stSubscribing {
			c.state = stReady
			l.st.subscribed++
			l.st.chanSubs[l.spec.channelOf(int(c.idx))]++
			if l.spec.presence() {
				l.members = append(l.members, c)
			}
		}
	case "pusher:ping":
		l.sendText(c, pongMessage)
	case "pusher:error":
		l.st.serverErrors++
		l.st.lastError = "pusher:error " + truncate(string(m.Data), 160)
		if c.state == stSubscribing {
			c.state = stReady // held open, but not counted as subscribed
			l.st.subFailed++
		}
	}
}

func (l *clientLoop) onEstablished(c *wsConn, raw json.RawMessage) {
	if c.state != stWaitEstablished {
		return
	}
	var inner string
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal(raw, &inner); err == nil {
		_ = json.Unmarshal([]byte(inner), &est)
	} else {
		_ = json.Unmarshal(raw, &est) // tolerate data sent as an object
	}
	l.inFlight--
	l.st.opened++
	l.st.handshake.record(l.now - c.started)
	l.st.lastOpen = l.now
	ch := l.spec.channelOf(int(c.idx))
	if ch < 0 {
		c.state = stReady
		return
	}
	c.state = stSubscribing
	l.sendText(c, l.subscribeMessage(c, ch, est.SocketID))
}

func (l *clientLoop) subscribeMessage(c *wsConn, ch int, socketID string) []byte {
	name := l.spec.channelName(ch)
	if l.spec.Private {
		return []byte(`{"event":"pusher:subscribe","data":{"channel":"` + name + `","auth":"` + channelAuth(l.spec.App, socketID, name, "") + `"}}`)
	}
	if !l.spec.presence() {
		return []byte(`{"event":"pusher:subscribe","data":{"channel":"` + name + `","auth":""}}`)
	}
	channelData := `{"user_id":"u` + strconv.Itoa(int(c.idx)) + `","user_info":{}}`
	auth := channelAuth(l.spec.App, socketID, name, channelData)
	quoted, _ := json.Marshal(channelData)
	return []byte(`{"event":"pusher:subscribe","data":{"channel":"` + name + `","auth":"` + auth + `","channel_data":` + string(quoted) + `}}`)
}

// onBenchMessage accounts one load message: s is the message from "bench_t".
func (l *clientLoop) onBenchMessage(c *wsConn, s []byte) {
	sent, ok := intAfterKey(s, benchTimeKey)
	if !ok {
		l.st.serverErrors++
		return
	}
	step, _ := intAfterKey(s, benchStepKey)
	if step != l.step {
		l.st.stale++ // a late message from an earlier step must not pollute this one
		return
	}
	if from, ok := intAfterKey(s, benchFromKey); ok && from == int64(c.idx) {
		l.st.echoes++ // client events must never come back to their sender
		return
	}
	l.st.delivered++
	if l.recvTS > 0 {
		// TCP merges segments that wait in a receive queue and keeps the
		// newest one's timestamp: a read of several messages knows only
		// when the last arrived, so the earlier ones read late (an
		// overestimate, counted so a report can show it).
		l.timedInRead++
		if l.timedInRead > 1 {
			l.st.shared++
		}
		l.st.latency.record(l.recvTS - sent)
		l.st.clientLag.record(l.now - l.recvTS)
		return
	}
	l.st.untimed++
	l.st.latency.record(l.now - sent)
}

// intAfterKey finds key in s and parses the integer after it, skipping the
// quote/colon/backslash run that sits between them whether the payload is a
// JSON object or a JSON string holding an escaped object.
func intAfterKey(s, key []byte) (int64, bool) {
	i := bytes.Index(s, key)
	if i < 0 {
		return 0, false
	}
	i += len(key)
	for i < len(s) && (s[i] == '"' || s[i] == '\\' || s[i] == ':' || s[i] == ' ') {
		i++
	}
	var v int64
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + int64(s[i]-'0')
		i++
	}
	return v, i > start
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
