package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A run larger than one process' RLIMIT_NOFILE re-executes this binary as
// workers. The worker reads its popSpec as the first stdin line, then one
// command per line, and answers each with one JSON line on stdout:
//
//	open <budget-ns> | reset <step> | whisper <rate> | report | stop
//
// A worker exits when stdin closes, so a dead parent never leaves load
// generators behind, and it also exits on its own after maxWorkerLifetime.

const workerEnv = "RESOUND_BENCH_WORKER"

const maxWorkerLifetime = 30 * time.Minute

type workerReply struct {
	Stats *popStats `json:"stats,omitempty"`
	Err   string    `json:"err,omitempty"`
}

func isWorker() bool { return os.Getenv(workerEnv) == "1" }

// workerMain serves one population over stdin/stdout and never returns.
func workerMain() {
	os.Exit(serveWorker(os.Stdin, os.Stdout))
}

func serveWorker(in io.Reader, out io.Writer) int {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	enc := json.NewEncoder(out)
	if !sc.Scan() {
		return 2
	}
	var spec popSpec
	if err := json.Unmarshal(sc.Bytes(), &spec); err != nil {
		_ = enc.Encode(workerReply{Err: "bad spec: " + err.Error()})
		return 2
	}
	if spec.IdleReader {
		if err := idleProcess(); err != nil {
			_ = enc.Encode(workerReply{Err: "SCHED_IDLE: " + err.Error()})
			return 2
		}
	}
	pop, err := newLocalPop(spec)
	if err != nil {
		_ = enc.Encode(workerReply{Err: err.Error()})
		return 2
	}
	defer pop.close()
	lifetime := time.AfterFunc(maxWorkerLifetime, func() { os.Exit(3) })
	defer lifetime.Stop()
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		var reply workerReply
		switch cmd {
		case "open":
			ns, _ := strconv.ParseInt(arg, 10, 64)
			s, _ := pop.open(time.Duration(ns))
			reply.Stats = &s
		case "reset":
			step, _ := strconv.ParseInt(arg, 10, 64)
			_ = pop.reset(step)
		case "whisper":
			rate, _ := strconv.ParseFloat(arg, 64)
			_ = pop.setWhisperRate(rate)
		case "report":
			s, _ := pop.report()
			reply.Stats = &s
		case "stop":
			pop.close()
			_ = enc.Encode(reply)
			return 0
		default:
			reply.Err = "unknown command " + cmd
		}
		if err := enc.Encode(reply); err != nil {
			return 1
		}
	}
	return 0
}

type workerPop struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	once  sync.Once
}

func newWorkerPop(spec popSpec) (*workerPop, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	line, _ := json.Marshal(spec)
	if _, err := fmt.Fprintf(stdin, "%s\n", line); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // reap it and close its pipes
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 16<<20), 16<<20) // sparse histograms can be ~200 KB
	return &workerPop{cmd: cmd, stdin: stdin, out: sc}, nil
}

func (w *workerPop) call(line string) (workerReply, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var r workerReply
	if _, err := fmt.Fprintln(w.stdin, line); err != nil {
		return r, fmt.Errorf("worker %d: %w", w.cmd.Process.Pid, err)
	}
	if !w.out.Scan() {
		return r, fmt.Errorf("worker %d exited: %v", w.cmd.Process.Pid, w.out.Err())
	}
	if err := json.Unmarshal(w.out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("worker %d: bad reply: %w", w.cmd.Process.Pid, err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("worker %d: %s", w.cmd.Process.Pid, r.Err)
	}
	return r, nil
}

func (w *workerPop) stats(line string) (popStats, error) {
	r, err := w.call(line)
	if err != nil {
		return popStats{}, err
	}
	if r.Stats == nil {
		return popStats{}, fmt.Errorf("worker %d: no stats in reply", w.cmd.Process.Pid)
	}
	return *r.Stats, nil
}

func (w *workerPop) open(budget time.Duration) (popStats, error) {
	return w.stats("open " + strconv.FormatInt(int64(budget), 10))
}

func (w *workerPop) reset(step int64) error {
	_, err := w.call("reset " + strconv.FormatInt(step, 10))
	return err
}

func (w *workerPop) setWhisperRate(rate float64) error {
	_, err := w.call("whisper " + strconv.FormatFloat(rate, 'f', -1, 64))
	return err
}

func (w *workerPop) report() (popStats, error) { return w.stats("report") }

func (w *workerPop) close() {
	w.once.Do(func() {
		done := make(chan struct{})
		go func() {
			_, _ = w.call("stop")
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		_ = w.stdin.Close()
		waited := make(chan struct{})
		go func() { _ = w.cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			_ = w.cmd.Process.Kill() // only our own child, by its pid
			<-waited
		}
	})
}
