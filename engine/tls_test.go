package engine

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// A handshake waits for a slot from choosing its certificate until its
// flight is written; the next one proceeds as soon as that write happens.
func TestHandshakeCPUSlotHeldUntilTheFlightIsWritten(t *testing.T) {
	cpu := make(handshakeCPU, 1)
	cfg := cpu.meter(&tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &tls.Certificate{}, nil
	}})
	a, _ := tcpPair(t)
	b, _ := tcpPair(t)
	first := &meteredConn{TCPConn: a, cpu: cpu}
	second := &meteredConn{TCPConn: b, cpu: cpu}
	if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{Conn: first}); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		_, _ = cfg.GetCertificate(&tls.ClientHelloInfo{Conn: second})
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second handshake computed while the only slot was held")
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := first.Write([]byte("flight")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the slot was not given back when the first flight was written")
	}
	if first.holding || !second.holding {
		t.Fatalf("holding: first %v, second %v", first.holding, second.holding)
	}
	second.release()
	if len(cpu) != 0 {
		t.Fatalf("%d slots still taken", len(cpu))
	}
	// Connections the acceptor did not wrap (refusals) take no slot.
	if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{}); err != nil || len(cpu) != 0 {
		t.Fatalf("an unwrapped connection took a slot (%d) or failed: %v", len(cpu), err)
	}
}
