package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The write-loop server: a minimal Pusher server, one write(2) per subscriber.
//
// The write(2) floor (floor.go) times writes to sockets nobody waits on. A
// real subscriber's socket sits in its client's epoll set, and on loopback
// the writer's CPU time includes waking that client; a real server also
// has to read the publish and get it to more than one core. This server
// does that and little more: the goroutine that reads a publish splits a
// big channel's subscribers into up to one part per CPU (writeLoopMinPart
// sockets at least each), and each part is written by a goroutine with one
// raw write(2) per socket, the same frame for all.
// No event loop, queue, buffer, limit or signature check sits in between.
// `bench peers` runs the fan-out scenarios against it with the same client,
// so each server's CPU per delivery can be read against what a minimal Go
// server pays on the same box, not only against the bare floor.
//
// It is a measuring stick and nothing else: a goroutine and a net/http
// connection per socket (its memory is not comparable and is not
// reported), no auth, no presence, no buffering for slow readers.

// writeLoopEnv makes the bench binary serve as the write-loop server on
// the address it holds: `bench peers` starts it so, and under `go test`
// the test binary, which is what os.Executable() is there.
const writeLoopEnv = "RESOUND_BENCH_WRITELOOP"

// writeLoopMinPart: a channel is split over writers only when each gets at
// least this many sockets. Waking another core costs more than writing a
// few sockets, and a small channel's publish (10 subscribers in the
// 1,000-channel scenario) would pay for that wake-up in every delivery.
const writeLoopMinPart = 256

func isWriteLoop() bool { return os.Getenv(writeLoopEnv) != "" }

func writeLoopMain() {
	ln, err := net.Listen("tcp", os.Getenv(writeLoopEnv))
	if err == nil {
		err = newWriteLoopServer(runtime.NumCPU(), "bench-key").serve(ln)
	}
	fmt.Fprintln(os.Stderr, "bench write-loop server:", err)
	os.Exit(1)
}

type writeLoopServer struct {
	writers int
	key     string
	nextID  atomic.Int64
	mu      sync.Mutex
	// channels holds each channel's subscriber descriptors. No element
	// within a published slice's length is written again (subscribe only
	// appends, unsubscribe makes a new array), so a broadcast reads its
	// snapshot without the lock.
	channels map[string][]int
}

func newWriteLoopServer(writers int, key string) *writeLoopServer {
	return &writeLoopServer{writers: max(writers, 1), key: key, channels: map[string][]int{}}
}

// serve answers until the listener fails.
func (s *writeLoopServer) serve(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{key}", s.serveSocket)
	mux.HandleFunc("POST /apps/{id}/events", s.serveEvents)
	mux.HandleFunc("GET /up", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"health":"OK"}`) })
	return http.Serve(ln, mux)
}

// serveSocket upgrades, then reads the client's frames until it leaves.
// Broadcasts write to the socket's descriptor directly. A descriptor is
// unsubscribed before it is closed, but a broadcast that took its snapshot
// just before could still write to the number (or shut it down) after the
// kernel reused it for a new connection. The bench never closes a
// subscriber while a publish is in flight (it waits for every answer
// first), and a stray frame or a cut connection would show as an error in
// the run, not as a better figure.
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
	fd, ok := socketFD(c)
	if !ok {
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
	buf := make([]byte, 0, 4096)
	for {
		f, used, err := parseFrame(buf)
		if err != nil {
			return
		}
		if used == 0 {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)] // grow: a frame longer than the buffer
			}
			n, err := brw.Read(buf[len(buf):cap(buf)])
			if err != nil {
				return
			}
			buf = buf[:len(buf)+n]
			continue
		}
		switch f.opcode {
		case opClose:
			return
		case opText:
			if ch, ok := subscribeRequest(f.payload); ok && s.subscribe(fd, ch) {
				subscribed = append(subscribed, ch)
			}
		}
		buf = append(buf[:0], buf[used:]...)
	}
}

// subscribeRequest reads the channel from a pusher:subscribe. Any other
// client message is ignored: the bench's subscribers send nothing else
// (they answer a server's ping, and this server sends none).
func subscribeRequest(payload []byte) (string, bool) {
	var m struct {
		Event string `json:"event"`
		Data  struct {
			Channel string `json:"channel"`
		} `json:"data"`
	}
	if json.Unmarshal(payload, &m) != nil || m.Event != "pusher:subscribe" {
		return "", false
	}
	return m.Data.Channel, true
}

func socketFD(c net.Conn) (int, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0, false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if raw.Control(func(f uintptr) { fd = int(f) }) != nil {
		return 0, false
	}
	return fd, fd >= 0
}

// subscribe replies and joins the channel under the lock, so a broadcast's
// snapshot either misses the socket and comes before the reply, or has it
// and writes behind the reply: the client sees every event published after
// its subscription_succeeded, and no event before it. It reports false, and
// shuts the socket down, when the reply did not fit.
func (s *writeLoopServer) subscribe(fd int, ch string) bool {
	quoted, _ := json.Marshal(ch)
	reply := serverTextFrame(fmt.Appendf(nil, `{"event":"pusher_internal:subscription_succeeded","channel":%s,"data":"{}"}`, quoted))
	s.mu.Lock()
	defer s.mu.Unlock()
	if !writeWhole(fd, reply) {
		return false
	}
	s.channels[ch] = append(s.channels[ch], fd)
	return true
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
	name, _ := json.Marshal(ev.Name)
	data, _ := json.Marshal(ev.Data)
	for _, ch := range ev.Channels {
		quoted, _ := json.Marshal(ch)
		msg := fmt.Appendf(nil, `{"event":%s,"channel":%s,"data":%s}`, name, quoted, data)
		s.mu.Lock()
		fds := s.channels[ch]
		s.mu.Unlock()
		s.broadcast(fds, serverTextFrame(msg))
	}
	io.WriteString(w, "{}")
}

// broadcast writes frame to every fd, split over up to one writer per CPU
// (writeLoopMinPart), the calling goroutine taking the first part.
func (s *writeLoopServer) broadcast(fds []int, frame []byte) {
	k := max(1, min(s.writers, len(fds)/writeLoopMinPart))
	var wg sync.WaitGroup
	for i := 1; i < k; i++ {
		wg.Add(1)
		go func(part []int) {
			defer wg.Done()
			writeAll(part, frame)
		}(fds[i*len(fds)/k : (i+1)*len(fds)/k])
	}
	writeAll(fds[:len(fds)/k], frame)
	wg.Wait()
}

func writeAll(fds []int, frame []byte) {
	for _, fd := range fds {
		writeWhole(fd, frame)
	}
}

// writeWhole makes the floor's raw call (writeFrame). A socket that does
// not take the whole frame is shut down: a torn frame would garble
// everything after it, while a closed socket is a loss the bench counts
// and reports.
func writeWhole(fd int, frame []byte) bool {
	if n, _ := writeFrame(fd, frame); n != len(frame) {
		_ = unix.Shutdown(fd, unix.SHUT_RDWR)
		return false
	}
	return true
}
