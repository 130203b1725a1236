package main

import (
	"strconv"
	"time"
)

// whisperState paces client events from inside the loop: the number due is
// derived from elapsed time, so a slow iteration catches up instead of
// silently lowering the offered rate.
type whisperState struct {
	rate    float64 // whispers per second from this loop
	started int64
	sent    uint64
	cursor  int
	buf     []byte
}

// maxWhisperBurst bounds one catch-up burst so the loop keeps reading.
const maxWhisperBurst = 2000

func (l *clientLoop) whisperTick() {
	w := &l.whisper
	if w.rate <= 0 || len(l.members) == 0 {
		return
	}
	due := uint64(float64(l.now-w.started) / float64(time.Second) * w.rate)
	for n := 0; w.sent < due && n < maxWhisperBurst; n++ {
		c := l.members[w.cursor%len(l.members)]
		w.cursor++
		w.sent++
		if c.state != stReady {
			continue
		}
		l.sendWhisper(c)
	}
}

func (l *clientLoop) sendWhisper(c *wsConn) {
	idx := int(c.idx)
	b := l.whisper.buf[:0]
	b = append(b, `{"event":"client-bench","channel":"`...)
	b = append(b, l.spec.channelName(l.spec.channelOf(idx))...)
	b = append(b, `","data":{"bench_t":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"bench_s":`...)
	b = strconv.AppendInt(b, l.step, 10)
	b = append(b, `,"bench_f":`...)
	b = strconv.AppendInt(b, int64(idx), 10)
	b = append(b, `}}`...)
	l.whisper.buf = b
	l.st.whispersSent++
	l.st.whisperExpected += uint64(l.spec.roomMembers(idx) - 1)
	l.sendText(c, b)
}
