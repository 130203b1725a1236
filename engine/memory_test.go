package engine

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// An idle socket's own state must stay in the 64-byte size class; what only
// busy connections need belongs in connExtra.
func TestIdleSocketStateFits64Bytes(t *testing.T) {
	if size := unsafe.Sizeof(conn{}); size > 64 {
		t.Fatalf("conn is %d bytes; move what idle sockets do not use into connExtra", size)
	}
}

func TestTrimKeepsExtraStateWhileInUse(t *testing.T) {
	cn := &conn{c: &unsentConn{}, state: stateSocket, x: &connExtra{frag: []byte("part")}}
	cn.trim()
	if cn.x == nil {
		t.Fatal("a fragmented message in progress was dropped")
	}
	cn.x.frag = nil
	cn.x.backlog.push([][]byte{[]byte("frame")}, 5)
	cn.trim()
	if cn.x == nil {
		t.Fatal("a backlog was dropped")
	}
	cn.x.backlog.reset()
	cn.state = stateHTTP
	cn.trim()
	if cn.x == nil {
		t.Fatal("an HTTP connection lost its request state")
	}
	cn.state = stateSocket
	held := &unsentConn{unsent: 100}
	cn.c = held
	cn.trim()
	if cn.x == nil {
		t.Fatal("dropped while gnet holds unsent bytes: the next broadcast would write ahead of them")
	}
	held.unsent = 0
	cn.trim()
	if cn.x != nil {
		t.Fatal("an idle socket kept its extra state")
	}
}

// unsentConn is a gnet connection that only says how much gnet holds unsent.
type unsentConn struct {
	gnet.Conn
	unsent int
}

func (u *unsentConn) OutboundBuffered() int { return u.unsent }

type fakeGnetConn struct {
	fd         int
	remote     unix.Sockaddr
	localAddr  net.Addr
	remoteAddr net.Addr
}

func TestAddressFieldsFoundOnlyWithNameAndType(t *testing.T) {
	if f := findGnetAddrFields(reflect.TypeOf(&fakeGnetConn{})); !f.ok {
		t.Fatal("fields with the expected names and types were not found")
	}
	type renamed struct {
		remote    unix.Sockaddr
		localAddr net.Addr
		peerAddr  net.Addr
	}
	if f := findGnetAddrFields(reflect.TypeOf(&renamed{})); f.ok {
		t.Fatal("a struct without remoteAddr was accepted")
	}
	type retyped struct {
		remote     unix.Sockaddr
		localAddr  *net.TCPAddr
		remoteAddr net.Addr
	}
	if f := findGnetAddrFields(reflect.TypeOf(&retyped{})); f.ok {
		t.Fatal("a field of another type was accepted")
	}
}

// The gnet release we build with: its connection's addresses are found and
// cleared on a real connection.
type addrProbe struct {
	gnet.BuiltinEventEngine
	result chan [2]bool // had addresses before, has none after
	eng    chan gnet.Engine
}

func (p *addrProbe) OnBoot(eng gnet.Engine) gnet.Action {
	p.eng <- eng
	return gnet.None
}

func (p *addrProbe) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	before := c.RemoteAddr() != nil && c.LocalAddr() != nil
	dropAddresses(c)
	p.result <- [2]bool{before, c.RemoteAddr() == nil && c.LocalAddr() == nil}
	return nil, gnet.Close
}

func TestGnetConnectionAddressesAreCleared(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "probe.sock")
	p := &addrProbe{result: make(chan [2]bool, 1), eng: make(chan gnet.Engine, 1)}
	done := make(chan error, 1)
	go func() { done <- gnet.Run(p, "unix://"+sock, gnet.WithLogger(quietLogger{})) }()
	var c net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err = net.Dial("unix", sock); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("gnet did not listen: %v", err)
	}
	defer c.Close()
	select {
	case r := <-p.result:
		if !r[0] {
			t.Fatal("gnet gave the connection no addresses to begin with")
		}
		if !r[1] || !gnetAddrs.ok {
			t.Fatal("gnet's address fields were not cleared: check its conn struct's field names")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection opened")
	}
	eng := <-p.eng
	_ = eng.Stop(context.Background())
	<-done
}
