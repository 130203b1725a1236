package engine

import (
	"net"
	"reflect"
	"sync"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnet keeps three address objects for every connection handed to it with
// Engine.Register (the local and remote net.TCPAddr of the accepted
// net.TCPConn, and a unix.Sockaddr): about 190 bytes and five heap objects
// per idle socket, for addresses nothing reads on a TCP stream (gnet uses
// them for UDP only). gnet has no option to skip them, so once a connection
// is open its fields are cleared in place. The fields are looked up by name
// and type on the first connection; if a gnet release renames or retypes
// them, nothing is cleared and nothing breaks.

type gnetAddrFields struct {
	typ                     reflect.Type // *gnet.conn
	local, remote, sockaddr uintptr      // field offsets in gnet's connection struct
	ok                      bool
}

var (
	gnetAddrsOnce sync.Once
	gnetAddrs     gnetAddrFields
)

func findGnetAddrFields(ptr reflect.Type) gnetAddrFields {
	f := gnetAddrFields{typ: ptr}
	if ptr.Kind() != reflect.Pointer || ptr.Elem().Kind() != reflect.Struct {
		return f
	}
	t := ptr.Elem()
	netAddr := reflect.TypeOf((*net.Addr)(nil)).Elem()
	sockaddr := reflect.TypeOf((*unix.Sockaddr)(nil)).Elem()
	found := 0
	for i := 0; i < t.NumField(); i++ {
		field := t.Field(i)
		switch {
		case field.Name == "localAddr" && field.Type == netAddr:
			f.local = field.Offset
			found++
		case field.Name == "remoteAddr" && field.Type == netAddr:
			f.remote = field.Offset
			found++
		case field.Name == "remote" && field.Type == sockaddr:
			f.sockaddr = field.Offset
			found++
		}
	}
	f.ok = found == 3
	return f
}

// dropAddresses clears gnet's address fields of an open TCP connection, on
// its loop; RemoteAddr and LocalAddr return nil afterwards.
func dropAddresses(c gnet.Conn) {
	typ := reflect.TypeOf(c)
	gnetAddrsOnce.Do(func() { gnetAddrs = findGnetAddrFields(typ) })
	if !gnetAddrs.ok || typ != gnetAddrs.typ {
		return
	}
	p := reflect.ValueOf(c).UnsafePointer()
	*(*net.Addr)(unsafe.Add(p, gnetAddrs.local)) = nil
	*(*net.Addr)(unsafe.Add(p, gnetAddrs.remote)) = nil
	*(*unix.Sockaddr)(unsafe.Add(p, gnetAddrs.sockaddr)) = nil
}
