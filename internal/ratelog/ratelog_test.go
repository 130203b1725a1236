package ratelog

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// lines collects printed lines on a channel so tests wait for them.
type lines chan string

func (c lines) Print(v ...any) { c <- fmt.Sprint(v...) }

func (c lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no line printed within 5 s")
		return ""
	}
}

func (c lines) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case s := <-c:
		t.Fatalf("unexpected line %q", s)
	case <-time.After(d):
	}
}

func TestFirstLinePrintedAtOnceRestCountedPerKind(t *testing.T) {
	out := make(lines, 16)
	l := New(out, 100*time.Millisecond)
	start := time.Now()
	l.Printf("bus", "bus down %d", 1)
	if got := out.next(t); got != "bus down 1" {
		t.Fatalf("first line: %q", got)
	}
	for i := 2; i <= 50; i++ {
		l.Printf("bus", "bus down %d", i)
	}
	// Another kind is not held back by the first.
	l.Printf("overload", "queue full")
	if got := out.next(t); got != "queue full" {
		t.Fatalf("other kind: %q", got)
	}
	summary := out.next(t)
	if summary != "bus down 50 (49 such lines held back in the last 100ms)" {
		t.Fatalf("summary: %q", summary)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatalf("summary after %v, before the interval ended", time.Since(start))
	}
}

func TestQuietKindPrintsAgainAtOnce(t *testing.T) {
	out := make(lines, 16)
	l := New(out, 50*time.Millisecond)
	l.Printf("k", "one")
	out.next(t)
	// Nothing more in the interval: no summary, and the kind goes quiet.
	out.none(t, 150*time.Millisecond)
	l.Printf("k", "two")
	if got := out.next(t); got != "two" {
		t.Fatalf("after a quiet interval: %q", got)
	}
}

func TestAtMostOneLinePerIntervalUnderSustainedFailure(t *testing.T) {
	out := make(lines, 1000)
	every := 40 * time.Millisecond
	l := New(out, every)
	start := time.Now()
	total := 0
	for time.Since(start) < 10*every {
		l.Printf("k", "fail")
		total++
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	// Wait for the last summary, then count what was printed.
	deadline := time.After(5 * time.Second)
	printed, counted := 0, 0
	for counted < total {
		select {
		case s := <-out:
			printed++
			if i := strings.Index(s, " ("); i >= 0 {
				var n int
				if _, err := fmt.Sscanf(s[i:], " (%d such lines", &n); err != nil {
					t.Fatalf("summary %q: %v", s, err)
				}
				counted += n
			} else {
				counted++
			}
		case <-deadline:
			t.Fatalf("lines account for %d of %d calls", counted, total)
		}
	}
	if max := int(elapsed/every) + 2; printed > max {
		t.Fatalf("%d lines in %v, at most %d expected", printed, elapsed, max)
	}
	if counted != total {
		t.Fatalf("counted %d, logged %d", counted, total)
	}
}
