package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestHandshakeInPiecesWithPipelinedFrames(t *testing.T) {
	s := startServer(t, defaultApps)
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The handshake in 5-byte pieces, then a ping frame in the same write as
	// the handshake's last bytes.
	hs := handshake("/app/key-1?protocol=7", "")
	ping := clientFrame(0x1, true, []byte(`{"event":"pusher:ping","data":{}}`))
	all := append([]byte(hs), ping...)
	cut := len(hs) - 3
	for i := 0; i < cut; i += 5 {
		_, _ = conn.Write(all[i:min(i+5, cut)])
		time.Sleep(time.Millisecond)
	}
	_, _ = conn.Write(all[cut:])
	c := &client{t: t, conn: conn}
	c.r = bufioReader(conn)
	if head := c.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("handshake: %q", head)
	}
	c.expect("pusher:connection_established")
	c.expect("pusher:pong")
}

func TestFragmentedMessageWithInterleavedPing(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	msg := []byte(`{"event":"pusher:subscribe","data":{"channel":"frag"}}`)
	c.writeFrame(0x1, false, msg[:10])
	c.writeFrame(0x9, true, []byte("mid")) // control frame between fragments
	c.writeFrame(0x0, false, msg[10:30])
	c.writeFrame(0x0, true, msg[30:])
	f, err := c.readFrame(2 * time.Second)
	if err != nil || f.op != 0xA || string(f.payload) != "mid" {
		t.Fatalf("pong: %v %+v", err, f)
	}
	if m := c.expect("pusher_internal:subscription_succeeded"); m.Channel != "frag" {
		t.Fatal(m.Channel)
	}
}

func TestCloseHandshakeEchoesCode(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	body := make([]byte, 2)
	binary.BigEndian.PutUint16(body, 1000)
	c.writeFrame(0x8, true, append(body, "bye"...))
	if code := c.expectClose(); code != 1000 {
		t.Fatalf("echoed %d", code)
	}
}

func TestBadFramesCloseWithTheRightCode(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","max_message_size":1000}]}`)
	cases := []struct {
		name string
		raw  []byte
		code int
	}{
		{"invalid UTF-8", clientFrame(0x1, true, []byte{'{', 0xff, 0xfe, '}'}), 1007},
		{"too big (from the header alone)", clientFrame(0x1, true, bytes.Repeat([]byte("a"), 1001))[:20], 1009},
		{"unmasked", []byte{0x81, 0x02, '{', '}'}, 1002},
		{"reserved bits", func() []byte { f := clientFrame(0x1, true, []byte("{}")); f[0] |= 0x40; return f }(), 1002},
		{"continuation without start", clientFrame(0x0, true, []byte("x")), 1002},
		{"fragmented ping", clientFrame(0x9, false, []byte("x")), 1002},
	}
	for _, tc := range cases {
		c := dial(t, s)
		_, _ = c.conn.Write(tc.raw)
		if code := c.expectClose(); code != tc.code {
			t.Errorf("%s: close %d, want %d", tc.name, code, tc.code)
		}
	}
	// Fragments that add up past the limit are refused too.
	c := dial(t, s)
	c.writeFrame(0x1, false, bytes.Repeat([]byte("a"), 600))
	c.writeFrame(0x0, true, bytes.Repeat([]byte("a"), 600))
	if code := c.expectClose(); code != 1009 {
		t.Errorf("fragments over the limit: close %d", code)
	}
	if !s.alive() {
		t.Fatal("server died")
	}
	dial(t, s).ping()
}

// A subscriber that falls behind and then reads in spurts while events keep
// coming gets them all, in order. The first 600 events (600 KB) are more
// than the server's send buffer (128 KiB asked, 256 KiB given) and the
// client's receive buffer hold, so frames pass through every stage of the
// server's queue: the kernel's buffers, gnet's, the backlog. A write that
// went ahead of bytes gnet still held shows as an event out of place or a
// torn frame.
func TestSlowReaderGetsEveryEventInOrder(t *testing.T) {
	// No ping while the client stays silent: the reader expects events only.
	s := startServer(t, `{"max_outbound_bytes":8388608,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","ping_interval":3600}]}`)
	c := dial(t, s)
	c.subscribe("trickle")
	const events, unread = 3000, 600
	pad := strings.Repeat("y", 1000)
	start, got := make(chan struct{}), make(chan error, 1)
	started := false
	defer func() {
		if !started {
			close(start) // the reader goroutine must not outlive a failed publish
		}
	}()
	go func() {
		<-start
		for i := range events {
			if i%8 == 0 {
				time.Sleep(time.Millisecond)
			}
			f, err := c.readFrame(10 * time.Second)
			if err != nil {
				got <- fmt.Errorf("event %d: %v", i, err)
				return
			}
			var m message
			var d struct{ I int }
			if err := json.Unmarshal(f.payload, &m); err != nil || m.Event != "e" {
				got <- fmt.Errorf("frame %d is not the event: %v %.120q", i, err, f.payload)
				return
			}
			if err := json.Unmarshal([]byte(m.dataString()), &d); err != nil || d.I != i {
				got <- fmt.Errorf("event %d in position %d (%v)", d.I, i, err)
				return
			}
		}
		got <- nil
	}()
	for i := range events {
		if i == unread {
			started = true
			close(start)
		}
		select {
		case err := <-got: // the reader failed: no point publishing the rest
			t.Fatal(err)
		default:
		}
		trigger(t, s, "trickle", "e", fmt.Sprintf(`{"i":%d,"pad":%q}`, i, pad), "")
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestSlowConsumerIsCutOffOthersServed(t *testing.T) {
	s := startServer(t, `{"max_outbound_bytes":65536,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1"}]}`)
	slow := dial(t, s)
	slow.subscribe("firehose")
	fast := dial(t, s)
	fast.subscribe("firehose")
	// The slow client never reads; the fast one reads everything.
	big := strings.Repeat("x", 60000)
	done := make(chan int)
	go func() {
		n := 0
		for {
			f, err := fast.readFrame(5 * time.Second)
			if err != nil {
				break
			}
			if bytes.Contains(f.payload, []byte(`"event":"big"`)) {
				n++
				if n == 100 {
					break
				}
			}
		}
		done <- n
	}()
	for i := 0; i < 100; i++ {
		body := `{"name":"big","channel":"firehose","data":"` + big + `"}`
		if status, resp := api(t, s, "POST", "/apps/app-1/events", nil, body); status != 200 {
			t.Fatalf("%d %s", status, resp)
		}
	}
	if n := <-done; n != 100 {
		t.Fatalf("fast consumer got %d of 100", n)
	}
	// The slow one was cut off: after draining what the kernel held, EOF.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := slow.readFrame(5 * time.Second)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("slow consumer was not cut off")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow consumer still connected")
		}
	}
}
