package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
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
	// Connections not wrapped in meteredConn take no slot.
	if _, err := cfg.GetCertificate(&tls.ClientHelloInfo{}); err != nil || len(cpu) != 0 {
		t.Fatalf("an unwrapped connection took a slot (%d) or failed: %v", len(cpu), err)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// shake runs a handshake between a client (SNI serverName, none if empty)
// and a server side wrapped in mc, and returns the server's result.
func shake(t *testing.T, cfg *tls.Config, mc *meteredConn, client net.Conn, serverName string, within time.Duration) error {
	t.Helper()
	go func() {
		_ = tls.Client(client, &tls.Config{InsecureSkipVerify: true, ServerName: serverName}).Handshake()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tls.Server(mc, cfg).HandshakeContext(ctx) }()
	select {
	case err := <-done:
		mc.release()
		return err
	case <-time.After(within + 10*time.Second):
		t.Fatalf("the handshake did not end %s after its deadline", 10*time.Second)
		return nil
	}
}

// A handshake whose deadline passes while it waits for a slot gives up
// without ever taking one: under a storm stale handshakes compute nothing.
func TestHandshakeWaitingForASlotGivesUpAtItsDeadline(t *testing.T) {
	cpu := make(handshakeCPU, 1)
	cfg := cpu.meter(&tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	cpu <- struct{}{} // a handshake in progress holds the only slot
	client, server := tcpPair(t)
	mc := &meteredConn{TCPConn: server, cpu: cpu}
	if err := shake(t, cfg, mc, client, "localhost", 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("handshake past its deadline: %v, want the deadline", err)
	}
	if mc.holding || len(cpu) != 1 {
		t.Fatalf("the stale handshake took a slot: holding %v, %d taken", mc.holding, len(cpu))
	}
	<-cpu
	// With the slot free, the same config completes handshakes.
	client, server = tcpPair(t)
	mc = &meteredConn{TCPConn: server, cpu: cpu}
	if err := shake(t, cfg, mc, client, "localhost", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(cpu) != 0 {
		t.Fatalf("%d slots still taken after a handshake", len(cpu))
	}
}

// A handshake that gets a slot after its client gave up computes nothing.
func TestHandshakeWhoseClientLeftWhileWaitingGivesTheSlotBack(t *testing.T) {
	cpu := make(handshakeCPU, 1)
	cfg := cpu.meter(&tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	cpu <- struct{}{}
	client, server := tcpPair(t)
	mc := &meteredConn{TCPConn: server, cpu: cpu}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tls.Server(mc, cfg).HandshakeContext(ctx) }()
	_ = client.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if err := tls.Client(client, &tls.Config{InsecureSkipVerify: true}).Handshake(); err == nil {
		t.Fatal("a handshake completed while the only slot was held")
	}
	client.Close()
	<-cpu
	select {
	case err := <-done:
		if !errors.Is(err, errClientGone) {
			t.Fatalf("handshake of a client that left: %v, want %v", err, errClientGone)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handshake of a client that left still runs")
	}
	if mc.holding || len(cpu) != 0 {
		t.Fatalf("the slot was kept: holding %v, %d taken", mc.holding, len(cpu))
	}
}

// A config with only a certificate list serves it, with or without SNI,
// and is metered either way.
func TestMeteredConfigWithOnlyACertificateList(t *testing.T) {
	cpu := make(handshakeCPU, 1)
	cfg := cpu.meter(&tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	for _, sni := range []string{"localhost", ""} {
		client, server := tcpPair(t)
		if err := shake(t, cfg, &meteredConn{TCPConn: server, cpu: cpu}, client, sni, 10*time.Second); err != nil {
			t.Fatalf("SNI %q: %v", sni, err)
		}
		cpu <- struct{}{}
		client, server = tcpPair(t)
		mc := &meteredConn{TCPConn: server, cpu: cpu, noWait: true}
		if err := shake(t, cfg, mc, client, sni, 10*time.Second); !errors.Is(err, errHandshakesBusy) {
			t.Fatalf("SNI %q with every slot busy: %v, want %v", sni, err, errHandshakesBusy)
		}
		<-cpu
	}
	if _, err := cpu.meter(&tls.Config{}).GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Fatal("a config without certificates picked one")
	}
}

// A refusal at max_total_connections is answered over TLS only when a
// handshake slot is free: a full node under a storm just closes.
func TestTLSRefusalAtTheCapTakesAHandshakeSlotOrCloses(t *testing.T) {
	cpu := make(handshakeCPU, 1)
	opts := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	s := &Server{opts: Options{TLS: opts}, handshakeCPU: cpu, meteredTLS: cpu.meter(opts),
		tlsRefusals: make(chan struct{}, maxTLSRefusals), fullResponse: fullResponse(1)}
	refused := func() (string, error) {
		client, server := tcpPair(t)
		s.refuseFullTLS(server)
		tc := tls.Client(client, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := tc.Write([]byte("GET /up HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return "", err
		}
		b, err := io.ReadAll(tc)
		return string(b), err
	}
	if got, err := refused(); !strings.Contains(got, "503 Service Unavailable") {
		t.Fatalf("refusal with a free slot: %q %v, want 503", got, err)
	}
	cpu <- struct{}{}
	if got, err := refused(); err == nil || got != "" {
		t.Fatalf("refusal with every slot busy: %q %v, want a failed handshake", got, err)
	}
	<-cpu
	// Every refusal gave its slots back.
	deadline := time.Now().Add(10 * time.Second)
	for len(s.tlsRefusals) != 0 || len(cpu) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("refusal slots %d, handshake slots %d still taken", len(s.tlsRefusals), len(cpu))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
