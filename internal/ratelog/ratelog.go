// Package ratelog logs repeated failures without flooding the log: at most
// one line per interval for each kind of failure, with a count of the lines
// it held back. An outage that fails thousands of requests a second then
// costs one line a second, and the count still tells how bad it was.
package ratelog

import (
	"fmt"
	"sync"
	"time"
)

// Printer is where lines go; *log.Logger is one.
type Printer interface {
	Print(v ...any)
}

// Logger rate-limits lines per kind. The zero value is not usable: use New.
type Logger struct {
	out   Printer
	every time.Duration

	mu    sync.Mutex
	kinds map[string]*window
}

// window is one kind's current interval: a line was printed at its start;
// later lines until it ends are only counted, and the last one is kept so
// the summary can show what kept failing.
type window struct {
	suppressed int
	last       string
}

// New logs to out at most once per every (one second if every <= 0) per kind.
func New(out Printer, every time.Duration) *Logger {
	if every <= 0 {
		every = time.Second
	}
	return &Logger{out: out, every: every, kinds: map[string]*window{}}
}

// Printf logs the line now if its kind has been quiet for an interval, and
// otherwise counts it; the count is printed when the interval ends.
func (l *Logger) Printf(kind, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.mu.Lock()
	if w := l.kinds[kind]; w != nil {
		w.suppressed++
		w.last = line
		l.mu.Unlock()
		return
	}
	l.kinds[kind] = &window{}
	l.mu.Unlock()
	l.out.Print(line)
	time.AfterFunc(l.every, func() { l.close(kind) })
}

// close ends kind's interval. If lines were held back, one summary line is
// printed and a new interval starts with it; otherwise the kind goes quiet
// and its next line is printed at once.
func (l *Logger) close(kind string) {
	l.mu.Lock()
	w := l.kinds[kind]
	if w == nil || w.suppressed == 0 {
		delete(l.kinds, kind)
		l.mu.Unlock()
		return
	}
	n, last := w.suppressed, w.last
	l.kinds[kind] = &window{}
	l.mu.Unlock()
	l.out.Print(fmt.Sprintf("%s (%d such lines held back in the last %v)", last, n, l.every))
	time.AfterFunc(l.every, func() { l.close(kind) })
}
