package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// popStats is one population's report, also the JSON a worker prints.
type popStats struct {
	N               int         `json:"n"`
	Opened          int         `json:"opened"`
	Failed          int         `json:"failed"`
	Subscribed      int         `json:"subscribed"`
	SubFailed       int         `json:"sub_failed"`
	ConnectErrors   int         `json:"connect_errors"`
	HandshakeErrors int         `json:"handshake_errors"`
	Timeouts        int         `json:"timeouts"`
	FDLimit         int         `json:"fd_limit"`
	ClosedByServer  int         `json:"closed_by_server"`
	ServerErrors    int         `json:"server_errors"`
	LastError       string      `json:"last_error,omitempty"`
	OpenSeconds     float64     `json:"open_seconds"`
	ChanSubs        map[int]int `json:"chan_subs,omitempty"`
	Delivered       uint64      `json:"delivered"`
	Stale           uint64      `json:"stale"`
	Echoes          uint64      `json:"echoes"`
	WireBytes       uint64      `json:"wire_bytes"`
	Compressed      uint64      `json:"compressed"`
	Untimed         uint64      `json:"untimed"`
	Shared          uint64      `json:"shared"`
	WhispersSent    uint64      `json:"whispers_sent"`
	WhisperExpected uint64      `json:"whisper_expected"`
	Latency         sparseHist  `json:"latency"`
	Handshake       sparseHist  `json:"handshake"`
	ClientLag       sparseHist  `json:"client_lag"`
	Done            bool        `json:"done"` // every socket opened or failed, every subscribe answered
	CPU             cpuTimes    `json:"cpu"`
	RSSBytes        int64       `json:"rss_bytes"`
	RSSBaseBytes    int64       `json:"rss_base_bytes"` // before the first socket
}

// waitOpen blocks until openingDone or the budget runs out.
func (l *clientLoop) waitOpen(budget time.Duration, progress func(popStats)) popStats {
	deadline := time.Now().Add(budget)
	lastProgress := time.Now()
	for {
		s := l.report(false)
		if s.Done || time.Now().After(deadline) {
			return s
		}
		if progress != nil && time.Since(lastProgress) > time.Second {
			progress(s)
			lastProgress = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reset starts a new measurement step: counters of delivered load go to
// zero, and messages stamped with an older step are counted as stale.
func (l *clientLoop) reset(step int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.step = step
	l.st.delivered, l.st.stale, l.st.echoes = 0, 0, 0
	l.st.wireBytes, l.st.compressed, l.st.untimed, l.st.shared = 0, 0, 0, 0
	l.st.whispersSent, l.st.whisperExpected = 0, 0
	l.st.serverErrors, l.st.lastError = 0, "" // per step; the open report kept its own
	l.st.latency.reset()
	l.st.clientLag.reset()
}

// setWhisperRate starts (rate>0) or stops whispering at rate per second.
func (l *clientLoop) setWhisperRate(rate float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.whisper.rate = rate
	l.whispering.Store(rate > 0)
	l.whisper.started = time.Now().UnixNano()
	l.whisper.sent = 0
}

func (l *clientLoop) report(withHistograms bool) popStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &l.st
	s := popStats{
		N: l.spec.N, Opened: st.opened, Failed: st.failed, Subscribed: st.subscribed, SubFailed: st.subFailed,
		ConnectErrors: st.connectErrors, HandshakeErrors: st.handshakeErrors, Timeouts: st.timeouts,
		FDLimit: st.fdLimit, ClosedByServer: st.closedByServer, ServerErrors: st.serverErrors,
		LastError: st.lastError, Delivered: st.delivered, Stale: st.stale, Echoes: st.echoes,
		WireBytes: st.wireBytes, Compressed: st.compressed, Untimed: st.untimed, Shared: st.shared,
		WhispersSent: st.whispersSent, WhisperExpected: st.whisperExpected,
	}
	if st.lastOpen > st.firstDial {
		s.OpenSeconds = float64(st.lastOpen-st.firstDial) / 1e9
	}
	s.Done = l.openingDoneLocked()
	if withHistograms {
		s.Latency = st.latency.toSparse()
		s.Handshake = st.handshake.toSparse()
		s.ClientLag = st.clientLag.toSparse()
		s.ChanSubs = make(map[int]int, len(st.chanSubs))
		for k, v := range st.chanSubs {
			s.ChanSubs[k] = v
		}
		s.CPU = selfCPU()
		s.RSSBytes = selfRSS()
		s.RSSBaseBytes = l.rssBase
	}
	return s
}

func (l *clientLoop) openingDoneLocked() bool {
	if l.dialed < l.spec.N || l.inFlight > 0 {
		return false
	}
	for _, c := range l.conns {
		if c != nil && c.state == stSubscribing {
			return false
		}
	}
	return true
}

// close stops the loop and closes every socket, politely: a close frame
// first, so servers log a normal closure rather than a reset.
func (l *clientLoop) close() {
	if l.stopping.Swap(true) {
		return
	}
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		if c.state >= stSubscribing && c.state != stClosed {
			l.wscratch = appendMaskedFrame(l.wscratch[:0], opClose, []byte{0x03, 0xE8}, l.nextMask())
			_, _ = unix.Write(int(c.fd), l.wscratch)
		}
		unix.Close(int(c.fd))
	}
	l.conns = nil
	l.members = nil
	unix.Close(l.epfd)
}
