package engine

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAcceptBackoffDoublesFrom10msTo1s(t *testing.T) {
	var got []time.Duration
	d := time.Duration(0)
	for range 9 {
		d = nextBackoff(d)
		got = append(got, d)
	}
	want := "[10ms 20ms 40ms 80ms 160ms 320ms 640ms 1s 1s]"
	if fmt.Sprint(got) != want {
		t.Fatalf("backoff steps %v, want %s", got, want)
	}
}

func TestAcceptCauseNamesTheLimit(t *testing.T) {
	wrap := func(e syscall.Errno) error {
		return &net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", e)}
	}
	for errno, want := range map[syscall.Errno]string{
		syscall.EMFILE:  "EMFILE (process open-file limit",
		syscall.ENFILE:  "ENFILE (system-wide",
		syscall.ENOBUFS: "kernel out of memory",
		syscall.ENOMEM:  "kernel out of memory",
	} {
		if got := acceptCause(wrap(errno)); !strings.HasPrefix(got, want) && !strings.Contains(got, want) {
			t.Errorf("%v: %q, want it to mention %q", errno, got, want)
		}
	}
	if got := acceptCause(errors.New("odd")); got != "odd" {
		t.Errorf("other error: %q", got)
	}
}

func TestDefaultMaxTotalLeavesAReserve(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		want  int64
	}{
		{20000, 19700},          // 100 + 1% reserved
		{1 << 20, 1<<20 - 1100}, // the reserve stops growing at 1100
		{256, 154},
		{100, 50}, // too small for the reserve: half
	} {
		if got := defaultMaxTotal(c.limit); got != c.want {
			t.Errorf("limit %d: cap %d, want %d", c.limit, got, c.want)
		}
	}
}

func TestFullResponseIsACompleteHTTP503(t *testing.T) {
	r := string(fullResponse(42))
	head, body, ok := strings.Cut(r, "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.1 503 ") || !strings.Contains(head, "\r\nRetry-After: 5") ||
		!strings.Contains(head, "\r\nConnection: close") || !strings.Contains(head, fmt.Sprintf("\r\nContent-Length: %d", len(body))) {
		t.Fatalf("response:\n%s", r)
	}
	if !strings.Contains(body, "max_total_connections (42)") || strings.Count(body, "\n") != 1 {
		t.Fatalf("body %q: want one line naming the limit", body)
	}
}

func TestStopVerdictOnlyARequestedStopSucceeds(t *testing.T) {
	if err := stopVerdict(nil, true); err != nil {
		t.Fatalf("requested stop: %v", err)
	}
	if err := stopVerdict(errors.New("x"), true); err != nil {
		t.Fatalf("requested stop with an engine error: %v", err)
	}
	if err := stopVerdict(nil, false); !errors.Is(err, errUnexpectedStop) {
		t.Fatalf("unrequested stop: %v", err)
	}
	err := stopVerdict(errors.New("epoll died"), false)
	if !errors.Is(err, errUnexpectedStop) || !strings.Contains(err.Error(), "epoll died") {
		t.Fatalf("unrequested stop with cause: %v", err)
	}
}

func TestDrainTicksSpreadOverTheWindowAtAMinimumRate(t *testing.T) {
	for _, c := range []struct {
		sockets int
		window  time.Duration
		want    int
	}{
		{19000, 10 * time.Second, 1000}, // the whole window
		{100, 10 * time.Second, 200},    // 2 s at 50/s
		{1, 10 * time.Second, 1},
		{0, 10 * time.Second, 1},
		{5000, -1, 1}, // no window: all at once
	} {
		if got := drainTicks(c.sockets, c.window); got != c.want {
			t.Errorf("%d sockets over %s: %d ticks, want %d", c.sockets, c.window, got, c.want)
		}
	}
}

func TestKickDrainShareClosesEvenlyAndAll(t *testing.T) {
	l := &loop{drainQueue: make([]*conn, 7)}
	for i := range l.drainQueue {
		l.drainQueue[i] = &conn{state: stateClosing} // Kick ignores non-sockets
	}
	var done []int
	for i := 1; i <= 3; i++ {
		l.kickDrainShare(i, 3)
		done = append(done, l.drainDone)
	}
	if fmt.Sprint(done) != "[3 5 7]" {
		t.Fatalf("after each of 3 ticks %v sockets done, want [3 5 7]", done)
	}
}
