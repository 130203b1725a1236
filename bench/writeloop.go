package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The write-loop server: the least a Pusher server can do per broadcast.
//
// The write(2) floor (floor.go) times writes to sockets nobody waits on. A
// real subscriber's socket sits in its client's epoll set, and on loopback
// the writer's CPU time includes waking that client; a real server also
// has to read the publish and hand it to more than one core. This server
// does exactly that and nothing more: the goroutine that reads a publish
// splits the channel's subscribers into one part per CPU and each part is
// written by a goroutine with one write(2) per socket, the same frame for
// all, with no event loop, queue, buffer, limit or signature check in
// between. `bench peers` runs the fan-out scenarios against it with the
// same client, so each server's CPU per delivery can be read against what
// any server pays on the same box, not only against the bare floor.
//
// It is a measuring stick and nothing else: a goroutine and a net/http
// connection per socket (its memory is not comparable and is not
// reported), no auth, no presence, no cut-off for slow readers.

// writeLoopEnv makes the bench binary serve as the write-loop server on
// the address it holds (how `bench peers` starts it, and how the test
// binary can too).
const writeLoopEnv = "RESOUND_BENCH_WRITELOOP"

func isWriteLoop() bool { return os.Getenv(writeLoopEnv) != "" }

func writeLoopMain() {
	err := serveWriteLoop(os.Getenv(writeLoopEnv), "bench-key", runtime.NumCPU())
	fmt.Fprintln(os.Stderr, "bench write-loop server:", err)
	os.Exit(1)
}

type writeLoopServer struct {
	writers  int
	key      string
	mu       sync.Mutex
	channels map[string][]int // subscriber fds; a slice is never changed in place once published
	nextID   atomic.Int64
	short    atomic.Int64 // writes that did not take the whole frame
}

// serveWriteLoop listens on addr and serves until the listener fails.
func serveWriteLoop(addr, key string, writers int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return newWriteLoopServer(writers, key).serve(ln)
}

func newWriteLoopServer(writers int, key string) *writeLoopServer {
	return &writeLoopServer{writers: max(writers, 1), key: key, channels: map[string][]int{}}
}

func (s *writeLoopServer) serve(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{key}", s.serveSocket)
	mux.HandleFunc("POST /apps/{id}/events", s.serveEvents)
	mux.HandleFunc("GET /up", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"health":"OK","short_writes":%d}`, s.short.Load())
	})
	return http.Serve(ln, mux)
}

func (s *writeLoopServer) serveSocket(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("key") != s.key {
		http.Error(w, "unknown app key", http.StatusNotFound)
		return
	}
	c, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	var fd int
	if raw.Control(func(f uintptr) { fd = int(f) }) != nil {
		return
	}
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	est, _ := json.Marshal(map[string]any{"socket_id": fmt.Sprintf("%d.%d", 1000+s.nextID.Add(1), 42), "activity_timeout": 120})
	msg, _ := json.Marshal(map[string]any{"event": "pusher:connection_established", "data": string(est)})
	brw.Write(serverTextFrame(msg))
	if brw.Flush() != nil {
		return
	}
	var subscribed []string
	defer func() { s.unsubscribe(fd, subscribed) }()
	for {
		op, payload, err := readClientFrame(brw.Reader)
		if err != nil || op == opClose {
			return
		}
		if op != opText {
			continue
		}
		var m struct {
			Event string `json:"event"`
			Data  struct {
				Channel string `json:"channel"`
			} `json:"data"`
		}
		if json.Unmarshal(payload, &m) != nil {
			continue
		}
		switch m.Event {
		case "pusher:subscribe":
			s.subscribe(fd, m.Data.Channel)
			subscribed = append(subscribed, m.Data.Channel)
			out, _ := json.Marshal(map[string]any{"event": "pusher_internal:subscription_succeeded", "channel": m.Data.Channel, "data": "{}"})
			c.Write(serverTextFrame(out))
		case "pusher:ping":
			c.Write(serverTextFrame([]byte(`{"event":"pusher:pong","data":{}}`)))
		}
	}
}

func (s *writeLoopServer) subscribe(fd int, ch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.channels[ch]
	s.channels[ch] = append(old[:len(old):len(old)], fd) // a new array: readers keep the old one
}

func (s *writeLoopServer) unsubscribe(fd int, chans []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range chans {
		fds := s.channels[ch]
		for i, f := range fds {
			if f == fd {
				s.channels[ch] = append(fds[:i:i], fds[i+1:]...)
				break
			}
		}
	}
}

func (s *writeLoopServer) serveEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var ev struct {
		Name     string   `json:"name"`
		Data     string   `json:"data"`
		Channel  string   `json:"channel"`
		Channels []string `json:"channels"`
	}
	if err != nil || json.Unmarshal(body, &ev) != nil {
		http.Error(w, "the body is not a Pusher event", http.StatusBadRequest)
		return
	}
	if ev.Channel != "" {
		ev.Channels = append(ev.Channels, ev.Channel)
	}
	for _, ch := range ev.Channels {
		msg, _ := json.Marshal(map[string]any{"event": ev.Name, "channel": ch, "data": ev.Data})
		s.mu.Lock()
		fds := s.channels[ch]
		s.mu.Unlock()
		s.broadcast(fds, serverTextFrame(msg))
	}
	io.WriteString(w, "{}")
}

// broadcast writes frame to every fd: one part per writer, the calling
// goroutine taking the first.
func (s *writeLoopServer) broadcast(fds []int, frame []byte) {
	k := min(s.writers, len(fds))
	if k == 0 {
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < k; i++ {
		wg.Add(1)
		go func(part []int) {
			defer wg.Done()
			s.writeAll(part, frame)
		}(fds[i*len(fds)/k : (i+1)*len(fds)/k])
	}
	s.writeAll(fds[:len(fds)/k], frame)
	wg.Wait()
}

func (s *writeLoopServer) writeAll(fds []int, frame []byte) {
	for _, fd := range fds {
		n, err := unix.Write(fd, frame)
		for errors.Is(err, syscall.EINTR) {
			n, err = unix.Write(fd, frame)
		}
		if n != len(frame) {
			s.short.Add(1) // the client sees the frame missing: a lost delivery
		}
	}
}

// serverTextFrame is an unmasked text frame.
func serverTextFrame(payload []byte) []byte {
	f := []byte{0x81}
	if n := len(payload); n < 126 {
		f = append(f, byte(n))
	} else {
		f = append(f, 126, byte(n>>8), byte(n))
	}
	return append(f, payload...)
}

// readClientFrame reads one client frame of under 64 KB, unmasking it.
func readClientFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return
	}
	op, n := h[0]&0x0f, int(h[1]&0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err = io.ReadFull(br, l[:]); err != nil {
			return
		}
		n = int(l[0])<<8 | int(l[1])
	case 127:
		return 0, nil, errors.New("client frame over 64 KB")
	}
	var mask [4]byte
	if h[1]&0x80 != 0 {
		if _, err = io.ReadFull(br, mask[:]); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(br, payload); err != nil {
		return
	}
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
	return
}

// writeLoopName is the write-loop server's name in the peers table.
const writeLoopName = "write loop"

func writeLoopVersion() string {
	return fmt.Sprintf("the bench's write-loop server: one write(2) per subscriber from %d goroutines, one per CPU (bench/writeloop.go)", runtime.NumCPU())
}

// startWriteLoop runs this executable as the write-loop server on a free
// loopback port and waits for GET /up.
func startWriteLoop() (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "writeloop-bench-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), writeLoopEnv+"="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the bench
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the write-loop server: %w", err)
	}
	t, _ := parseTarget(addr)
	exited := make(chan struct{})
	s := &serverProc{cmd: cmd, dir: dir, target: t, log: logf, exited: exited}
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := s.awaitStart("write-loop server", func() error { return waitUp(t, 20*time.Second) }); err != nil {
		return nil, err
	}
	return s, nil
}
