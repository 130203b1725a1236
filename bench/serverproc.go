package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// serverProc is a server process the bench started: Resound (the suite, the
// smoke test, peers), soketi or the write loop (peers).
type serverProc struct {
	cmd    *exec.Cmd
	dir    string
	target target
	log    *os.File
	exited chan struct{}
}

const benchAppConfig = `{"apps":[{"id":"bench","key":"bench-key","secret":"bench-secret","max_connections":0,"activity_timeout":120,"ping_interval":120}]}`

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs `bin start --host 127.0.0.1 --port P --config cfg
// --expose-stats` and waits for GET /up.
func startServer(bin string) (*serverProc, error) {
	return launchServer("server", "resound-bench-", func(dir string, port int) (*exec.Cmd, func(target) error, error) {
		cfg := filepath.Join(dir, "cfg.json")
		if err := os.WriteFile(cfg, []byte(benchAppConfig), 0o644); err != nil {
			return nil, nil, err
		}
		cmd := exec.Command(bin, "start", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--config", cfg, "--expose-stats")
		return cmd, func(t target) error { return waitUp(t, 20*time.Second) }, nil
	})
}

// launchServer starts a server process on a free loopback port with a
// directory of its own (its log, its config) and waits until up says it
// answers. prepare gets the directory and the port and returns the command
// and the check; everything else (the log, never outliving the bench, a
// failed start cleaned up) is the same for every server the bench runs.
func launchServer(name, dirPrefix string, prepare func(dir string, port int) (*exec.Cmd, func(target) error, error)) (*serverProc, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*serverProc, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	cmd, up, err := prepare(dir, port)
	if err != nil {
		return fail(err)
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return fail(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // never outlive the bench
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fail(fmt.Errorf("start %s: %w", cmd.Path, err))
	}
	t, _ := parseTarget(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	exited := make(chan struct{})
	s := &serverProc{cmd: cmd, dir: dir, target: t, log: logf, exited: exited}
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := s.awaitStart(name, func() error { return up(t) }); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

// tail returns the end of the server log for error messages.
func (s *serverProc) tail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop sends SIGINT (a drain without drain_delay), then SIGKILL after 5s,
// to the process we started.
func (s *serverProc) stop() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	s.log.Close()
	os.RemoveAll(s.dir)
}

// awaitStart waits until up reports the server answering, or the process
// exits first; on failure the process is stopped (its log closed and its
// directory removed) and the error carries the log's tail.
func (s *serverProc) awaitStart(name string, up func() error) error {
	answered := make(chan error, 1)
	go func() { answered <- up() }()
	select {
	case err := <-answered:
		if err == nil {
			return nil
		}
		err = fmt.Errorf("%v (log: %s)", err, s.tail())
		s.stop()
		return err
	case <-s.exited:
		err := fmt.Errorf("%s exited at startup: %s", name, s.tail())
		s.stop()
		return err
	}
}
