package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// progress prints a status line to stderr during long runs: rewritten in
// place on a terminal, one line every few seconds otherwise (CI logs).
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	mu    sync.Mutex
}

func newProgress(quiet bool) *progress {
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	return &progress{w: os.Stderr, tty: err == nil, quiet: quiet}
}

func (p *progress) line(s string) {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", s)
	} else {
		fmt.Fprintln(p.w, s)
	}
}

// done ends an in-place line so the next output starts clean.
func (p *progress) done() {
	if p == nil || p.quiet || !p.tty {
		return
	}
	p.mu.Lock()
	fmt.Fprint(p.w, "\r\033[K")
	p.mu.Unlock()
}

// logf prints a permanent note (not overwritten).
func (p *progress) logf(format string, args ...any) {
	if p == nil || p.quiet {
		return
	}
	p.done()
	p.mu.Lock()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.mu.Unlock()
}

// every calls status periodically and prints it until the returned stop.
func (p *progress) every(d time.Duration, status func() string) (stop func()) {
	if p == nil || p.quiet {
		return func() {}
	}
	if !p.tty {
		d = max(d, 3*time.Second)
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				p.line(status())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit); <-finished; p.done() })
	}
}
