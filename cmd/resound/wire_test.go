package main

// Wire-level limits: slow consumers held to max_outbound_bytes and a capped
// kernel send buffer, trickled API bodies, lingering close, RFC 6455 details.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heapInuse reads heap_inuse_bytes from GET /stats (--expose-stats);
// gc first collects garbage, for a baseline.
func heapInuse(t *testing.T, s *server, gc bool) int64 {
	url := "http://" + s.addr + "/stats"
	if gc {
		url += "?gc=1"
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET /stats: %v", err)
		return 0
	}
	defer resp.Body.Close()
	var st struct {
		HeapInuse int64 `json:"heap_inuse_bytes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.HeapInuse == 0 {
		t.Errorf("GET /stats: %v (heap %d)", err, st.HeapInuse)
	}
	return st.HeapInuse
}

var sndbufRe = regexp.MustCompile(`skmem:\([^)]*\btb(\d+)`)

// serverSendBuffers lists the kernel send buffer size (ss "tb") of every
// established socket the server holds on its port.
func serverSendBuffers(t *testing.T, s *server) []int {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	out, err := exec.Command("ss", "-tmnH", "state", "established", "( sport = :"+port+" )").Output()
	if err != nil {
		t.Fatalf("ss (iproute2) is needed to read socket buffers: %v", err)
	}
	var sizes []int
	for _, m := range sndbufRe.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[1])
		sizes = append(sizes, n)
	}
	return sizes
}

func TestSlowConsumersCostTheirBoundAndFastOnesKeepUp(t *testing.T) {
	const (
		slowCount = 24
		bound     = 512 << 10
		sndbuf    = 64 << 10
		batches   = 80
		perBatch  = 10
		eventSize = 8000
	)
	s := startServer(t, fmt.Sprintf(`{"max_outbound_bytes":%d,"socket_send_buffer":%d,"expose_stats":true,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1"}]}`, bound, sndbuf))
	var slow []*client
	for i := 0; i < slowCount; i++ {
		c := dial(t, s)
		c.subscribe("firehose")
		slow = append(slow, c)
	}
	fast := dial(t, s)
	fast.subscribe("firehose")

	// The kernel send buffer of every server socket is capped (Linux doubles
	// SO_SNDBUF): a socket that stops reading pins at most that much there.
	sizes := serverSendBuffers(t, s)
	if len(sizes) < slowCount+1 {
		t.Fatalf("ss shows %d server sockets, want at least %d", len(sizes), slowCount+1)
	}
	for _, n := range sizes {
		if n > 2*sndbuf {
			t.Fatalf("server socket send buffer %d, want at most %d (socket_send_buffer %d)", n, 2*sndbuf, sndbuf)
		}
	}

	baseline := heapInuse(t, s, true)
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapInuse(t, s, false); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	got := make(chan int, 1)
	go func() {
		n := 0
		for n < batches*perBatch {
			f, err := fast.readFrame(10 * time.Second)
			if err != nil {
				break
			}
			if bytes.Contains(f.payload, []byte(`"event":"big"`)) {
				n++
			}
		}
		got <- n
	}()
	data := strings.Repeat("x", eventSize)
	for b := 0; b < batches; b++ {
		var events []string
		for i := 0; i < perBatch; i++ {
			events = append(events, fmt.Sprintf(`{"name":"big","channel":"firehose","data":"%s"}`, data))
		}
		body := `{"batch":[` + strings.Join(events, ",") + `]}`
		if status, resp := api(t, s, "POST", "/apps/app-1/batch_events", nil, body); status != 200 {
			t.Fatalf("batch %d: %d %s", b, status, resp)
		}
	}
	if n := <-got; n != batches*perBatch {
		t.Fatalf("the fast subscriber got %d of %d events while slow ones piled up", n, batches*perBatch)
	}
	close(stopSampling)
	<-sampled

	// Each slow socket is cut off at the bound: after draining what the
	// kernel held for it, it reads EOF, not a timeout.
	var wg sync.WaitGroup
	for i, c := range slow {
		wg.Add(1)
		go func(i int, c *client) {
			defer wg.Done()
			for {
				_, err := c.readFrame(10 * time.Second)
				if err == nil {
					continue
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("slow socket %d was not cut off", i)
				}
				return
			}
		}(i, c)
	}
	wg.Wait()

	grew := peak.Load() - baseline
	t.Logf("heap: baseline %d KiB, peak %d KiB, growth %d KiB for %d slow sockets with a %d KiB bound",
		baseline>>10, peak.Load()>>10, grew>>10, slowCount, bound>>10)
	// Everything queued counts against the bound; frames are shared, not
	// copied per socket, so the peak stays under N x bound (plus the
	// request bodies and collector slack of the run).
	if limit := int64(slowCount*bound) + 8<<20; grew > limit {
		t.Fatalf("heap grew %d KiB, want at most %d KiB (%d slow sockets x %d KiB + 8 MiB)", grew>>10, limit>>10, slowCount, bound>>10)
	}
	fast.ping()
}

func TestTrickledAPIBodyIsAnswered(t *testing.T) {
	s := startServer(t, defaultApps)
	sub := dial(t, s)
	sub.subscribe("trickle")
	data := strings.Repeat("y", 95000)
	body := fmt.Sprintf(`{"name":"slow","channel":"trickle","data":%q}`, data)
	u := signedURL(s.addr, "POST", "/apps/app-1/events", nil, body)
	path := strings.TrimPrefix(u, "http://"+s.addr)
	req := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	// 10-byte pieces, as a trickling client sends them.
	for i := 0; i < len(req); i += 10 {
		if _, err := conn.Write([]byte(req[i:min(i+10, len(req))])); err != nil {
			t.Fatalf("write at %d: %v", i, err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("trickled request: %d %s", resp.StatusCode, rb)
	}
	m := sub.expect("slow")
	if m.dataString() != data {
		t.Fatalf("event data of %d bytes, want %d", len(m.dataString()), len(data))
	}
}

// oversized sends a frame of size bytes (over max_message_size) and then
// reads, as a browser does: a send that fails on a reset fails the
// connection (1006) before the close frame queued behind it is read.
func oversized(t *testing.T, s *server, size int) int {
	c := dial(t, s)
	defer c.conn.Close()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(clientFrame(0x1, true, bytes.Repeat([]byte("z"), size))); err != nil {
		return 1006
	}
	for {
		f, err := c.readFrame(10 * time.Second)
		if err != nil {
			return 1006
		}
		if f.op == 0x8 {
			if len(f.payload) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(f.payload))
		}
	}
}

func TestOversizedFrameAlwaysReadsCloseCode1009(t *testing.T) {
	s := startServer(t, defaultApps)
	for i := 0; i < 30; i++ {
		if code := oversized(t, s, 2<<20); code != 1009 {
			t.Fatalf("try %d: close code %d, want 1009", i, code)
		}
	}
	dial(t, s).ping()
}

func TestLingeringCloseReleasesTheConnection(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	c.writeFrame(0x1, true, []byte{0xff})
	if code := c.expectClose(); code != 1007 {
		t.Fatalf("close %d, want 1007", code)
	}
	// The client neither closes nor stops sending: the server discards what
	// arrives and closes within its bound (2 s, checked once a second).
	start := time.Now()
	junk := clientFrame(0x1, true, []byte(`{"event":"pusher:ping","data":{}}`))
	for time.Since(start) < 8*time.Second {
		if _, err := c.conn.Write(junk); err != nil {
			break
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [64]byte
		n, err := c.conn.Read(b[:])
		if n > 0 {
			t.Fatalf("server wrote %q after its close frame", b[:n])
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			break
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("connection still open %v after the close frame", took)
	}
}

func TestCloseFrameRules(t *testing.T) {
	s := startServer(t, defaultApps)
	closeBody := func(code uint16, reason []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, code)
		return append(b, reason...)
	}
	cases := []struct {
		name string
		body []byte
		want int
	}{
		{"code 5000", closeBody(5000, nil), 1002},
		{"code 65535", closeBody(65535, nil), 1002},
		{"code 999", closeBody(999, nil), 1002},
		{"code 1005 (reserved)", closeBody(1005, nil), 1002},
		{"code 1016", closeBody(1016, nil), 1002},
		{"code 2999", closeBody(2999, nil), 1002},
		{"invalid UTF-8 reason", closeBody(1000, []byte{0xce, 0xba, 0xe1, 0xbd}), 1007},
		{"code 4999 echoed", closeBody(4999, []byte("bye")), 4999},
		{"code 3000 echoed", closeBody(3000, nil), 3000},
		{"code 1011 echoed", closeBody(1011, []byte("κόσμε")), 1011},
	}
	for _, tc := range cases {
		c := dial(t, s)
		c.writeFrame(0x8, true, tc.body)
		if code := c.expectClose(); code != tc.want {
			t.Errorf("%s: close %d, want %d", tc.name, code, tc.want)
		}
	}
	dial(t, s).ping()
}

func TestControlCharacterInHandshakeIsRefused(t *testing.T) {
	s := startServer(t, defaultApps)
	for _, extra := range []string{"X-Name: a\x00b\r\n", "Origin: http://a\x01.test\r\n", "X-Name: a\x7fb\r\n", "X-Name: a\rb\r\n"} {
		_, head := rawDial(t, s, "/app/"+appKey+"?protocol=7", extra)
		if !strings.HasPrefix(head, "HTTP/1.1 400") {
			t.Errorf("header %q: got %q, want 400", extra, head)
		}
	}
	dial(t, s).ping()
}
