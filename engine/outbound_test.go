package engine

import (
	"bytes"
	"testing"
)

func TestBacklogChunksKeepOrderAndCount(t *testing.T) {
	var o outbound
	var want []byte
	for i := 0; i < 100; i++ {
		f := bytes.Repeat([]byte{byte(i)}, 3000)
		want = append(want, f...)
		o.push([][]byte{f}, len(f))
	}
	if o.bytes != len(want) {
		t.Fatalf("backlog counts %d bytes, holds %d", o.bytes, len(want))
	}
	var got []byte
	for !o.empty() {
		chunk, size := o.next()
		for _, f := range chunk {
			got = append(got, f...)
		}
		if len(chunk) > 1 && size > backlogChunk {
			t.Fatalf("chunk of %d bytes over %d", size, backlogChunk)
		}
		chunk[0] = chunk[0][1:] // as a partial writev leaves it
		o.release(len(chunk), size)
		if o.bytes != len(want)-len(got) {
			t.Fatalf("backlog counts %d bytes, holds %d", o.bytes, len(want)-len(got))
		}
	}
	if !bytes.Equal(got, want) || o.bytes != 0 {
		t.Fatalf("written %d bytes (equal %v), %d left counted", len(got), bytes.Equal(got, want), o.bytes)
	}
	// A frame larger than a chunk still goes out, alone.
	big := make([]byte, 2*backlogChunk)
	o.push([][]byte{big, {1}}, len(big)+1)
	if chunk, _ := o.next(); len(chunk) != 1 || len(chunk[0]) != len(big) {
		t.Fatalf("big frame chunk: %d frames", len(chunk))
	}
}

func TestBacklogReleasesFrames(t *testing.T) {
	var o outbound
	o.push([][]byte{{1}, {2}, {3}}, 3)
	o.release(2, 2)
	if o.frames[0] != nil || o.frames[1] != nil || o.bytes != 1 {
		t.Fatalf("released frames still referenced: %v, %d bytes", o.frames, o.bytes)
	}
	o.release(1, 1)
	if !o.empty() || o.bytes != 0 || len(o.frames) != 0 {
		t.Fatalf("backlog not reset: %+v", o)
	}
}

// Send writes straight to a socket without extra state, so a write through
// gnet that leaves bytes unsent must give the socket extra state.
func TestNoteUnsentMarksSocketsGnetHoldsBytesFor(t *testing.T) {
	held := &unsentConn{}
	cn := &conn{c: held, state: stateSocket}
	cn.noteUnsent(held.unsent)
	if cn.x != nil {
		t.Fatal("extra state for a socket gnet holds nothing for")
	}
	held.unsent = 10
	cn.noteUnsent(held.unsent)
	if cn.x == nil {
		t.Fatal("no extra state while gnet holds unsent bytes")
	}
	closing := &conn{c: held, state: stateClosing}
	closing.noteUnsent(held.unsent)
	if closing.x != nil {
		t.Fatal("extra state allocated for a closing socket")
	}
}

// heldConn is a gnet connection whose kernel takes nothing: whatever is
// written through it stays unsent in gnet.
type heldConn struct{ unsentConn }

func (h *heldConn) Write(b []byte) (int, error) { h.unsent += len(b); return len(b), nil }

// Each write through gnet to an open socket leaves it marked when gnet keeps
// bytes, so the next broadcast does not write past them.
func TestWritesThroughGnetMarkTheSocket(t *testing.T) {
	srv := &Server{opts: Options{MaxOutboundBytes: 1 << 20}}
	control := &conn{c: &heldConn{}, loop: &loop{srv: srv}, state: stateSocket, fd: -1}
	control.writeControl([]byte{0x8a, 0}) // a pong
	if control.x == nil {
		t.Fatal("a control frame gnet kept did not mark the socket")
	}
	// fd -1: the direct write fails, so the frame goes through gnet.
	sent := &conn{c: &heldConn{}, loop: &loop{srv: srv}, state: stateSocket, fd: -1}
	sent.Send([]byte("frame"))
	if sent.x == nil {
		t.Fatal("a frame gnet kept did not mark the socket")
	}
	sent.backlogWatched = true // there is no loop here to poll the backlog
	sent.Send([]byte("next"))
	if got := sent.c.(*heldConn).unsent; got != len("frame") || sent.x.backlog.bytes != len("next") {
		t.Fatalf("gnet holds %d bytes, the backlog %d: the second frame must wait behind the first", got, sent.x.backlog.bytes)
	}
}
