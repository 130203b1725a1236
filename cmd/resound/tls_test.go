package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a fresh self-signed certificate for 127.0.0.1 whose
// common name tells the tests which one the server presented.
func writeCert(t *testing.T, certFile, keyFile, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed, as certbot and friends replace files.
	write := func(path, kind string, der []byte) {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(keyFile, "PRIVATE KEY", keyDER)
	write(certFile, "CERTIFICATE", der)
}

// tlsServer is a resound process serving TLS with certificates in dir.
type tlsServer struct {
	*server
	certFile, keyFile string
}

func startTLSServer(t *testing.T, name string) *tlsServer {
	t.Helper()
	return startTLSServerWith(t, name, defaultApps)
}

func startTLSServerWith(t *testing.T, name, config string) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	ts := &tlsServer{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	writeCert(t, ts.certFile, ts.keyFile, name)
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := spawn(t, fmt.Sprintf("127.0.0.1:%d", port), []string{binary_, "start", "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--config", cfg, "--tls-cert", ts.certFile, "--tls-key", ts.keyFile}, nil)
	ts.server = s
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, err := ts.get("/up")
		if err == nil && status == 200 {
			return ts
		}
		if time.Now().After(deadline) {
			t.Fatalf("TLS server did not come up: %v\n%s", err, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tlsConfig trusts any certificate (the tests check which one they got by
// its name) and speaks HTTP/1.1, as browsers do over wss://.
func tlsConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
}

func (ts *tlsServer) httpsClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig(), DisableKeepAlives: true}}
}

func (ts *tlsServer) get(path string) (int, string, error) {
	resp, err := ts.httpsClient().Get("https://" + ts.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// presentedName is the common name of the certificate a new handshake gets.
func (ts *tlsServer) presentedName(t *testing.T) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.addr, tlsConfig())
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// dialWSS opens a wss:// socket and waits for connection_established.
func (ts *tlsServer) dialWSS(t *testing.T) *client {
	t.Helper()
	c, err := ts.tryDialWSS(t)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (ts *tlsServer) tryDialWSS(t *testing.T) (*client, error) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.addr, tlsConfig())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if _, err := conn.Write([]byte(handshake("/app/"+appKey+"?protocol=7&client=js&version=8.4.0", ""))); err != nil {
		return nil, err
	}
	if head := c.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101") {
		conn.Close()
		return nil, fmt.Errorf("wss handshake refused: %q", head)
	}
	m := c.expect("pusher:connection_established")
	c.socketID, _ = m.dataObject(t)["socket_id"].(string)
	return c, nil
}

// publish triggers an event through the HTTPS API.
func (ts *tlsServer) publish(t *testing.T, channel, event, data string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"channel":%q,"data":%q}`, event, channel, data)
	url := "https://" + strings.TrimPrefix(signedURL(ts.addr, "POST", "/apps/"+appID+"/events", nil, body), "http://")
	resp, err := ts.httpsClient().Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("publish over https: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("publish over https: %d %s", resp.StatusCode, b)
	}
}

// waitLog waits for a line containing want to appear in the server log.
func (s *server) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("server never logged %q", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTLSServesWSSAndHTTPSOnOnePort(t *testing.T) {
	ts := startTLSServer(t, "first")
	sub := ts.dialWSS(t)
	sub.subscribe("orders")
	ts.publish(t, "orders", "shipped", `{"id":7}`)
	if m := sub.expect("shipped"); m.dataString() != `{"id":7}` {
		t.Fatalf("event data over wss: %s", m.Data)
	}
	// A second socket whispers to the first over TLS, both ways relayed.
	other := ts.dialWSS(t)
	other.subscribe("private-room")
	sub.subscribe("private-room")
	other.send(`{"event":"client-typing","channel":"private-room","data":{"who":"b"}}`)
	if m := sub.expect("client-typing"); !strings.Contains(string(m.Data), `"b"`) {
		t.Fatalf("whisper over wss: %s", m.Data)
	}
	// A client message several times the relay's read buffer arrives whole.
	long := strings.Repeat("y", 8000)
	other.send(`{"event":"client-long","channel":"private-room","data":{"text":"` + long + `"}}`)
	if m := sub.expect("client-long"); !strings.Contains(string(m.Data), long) {
		t.Fatalf("long whisper over wss arrived as %d bytes", len(m.Data))
	}
	// A message bigger than one TLS record and than a relay read still
	// arrives whole.
	big := strings.Repeat("x", 60000)
	ts.publish(t, "orders", "big", big)
	if m := sub.expect("big"); m.dataString() != big {
		t.Fatalf("large event over wss: got %d bytes", len(m.dataString()))
	}
	// Plain HTTP to the TLS port is told what to do instead.
	resp, err := http.Get("http://" + ts.addr + "/up")
	if err != nil {
		t.Fatalf("plain HTTP to the TLS port: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "https://") {
		t.Fatalf("plain HTTP to the TLS port: %d %q", resp.StatusCode, b)
	}
	// The socket closed by the client is gone for the server too.
	sub.writeFrame(0x8, true, []byte{0x03, 0xe8})
	if code := sub.expectClose(); code != 1000 {
		t.Fatalf("close echoed with %d, want 1000", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body, err := ts.get("/apps/" + appID + "/connections?" + strings.SplitN(signedURL(ts.addr, "GET", "/apps/"+appID+"/connections", nil, ""), "?", 2)[1])
		if err == nil && status == 200 && strings.Contains(body, `"connections":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections after one wss socket closed: %d %s %v", status, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTLSReloadOnSIGHUPServesNewCertAndKeepsSockets(t *testing.T) {
	ts := startTLSServer(t, "before-renewal")
	if got := ts.presentedName(t); got != "before-renewal" {
		t.Fatalf("presented %q", got)
	}
	kept := ts.dialWSS(t)
	kept.subscribe("news")
	writeCert(t, ts.certFile, ts.keyFile, "after-renewal")
	if err := ts.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ts.waitLog(t, "SIGHUP: reloaded")
	if got := ts.presentedName(t); got != "after-renewal" {
		t.Fatalf("after SIGHUP a new handshake got %q, want after-renewal", got)
	}
	// The socket from before the reload was not dropped.
	kept.ping()
	ts.publish(t, "news", "renewed", "ok")
	if m := kept.expect("renewed"); m.dataString() != "ok" {
		t.Fatalf("old socket got %s", m.Data)
	}
}

func TestTLSBadCertAtReloadKeepsTheOldOne(t *testing.T) {
	ts := startTLSServer(t, "good")
	kept := ts.dialWSS(t)
	if err := os.WriteFile(ts.certFile, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ts.waitLog(t, "certificate reload failed")
	line := ts.logs.String()
	if !strings.Contains(line, "tls_cert_file "+ts.certFile) || !strings.Contains(line, "still serving the previous certificate") {
		t.Fatalf("reload failure does not name the file and the outcome:\n%s", line)
	}
	if got := ts.presentedName(t); got != "good" {
		t.Fatalf("after a bad reload a new handshake got %q, want the old certificate", got)
	}
	kept.ping()
	// A key that does not match the certificate is refused the same way.
	other := filepath.Join(t.TempDir(), "other")
	writeCert(t, ts.certFile, other, "mismatched")
	if err := ts.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(ts.logs.String(), "certificate reload failed") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("mismatched key not reported:\n%s", ts.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := ts.presentedName(t); got != "good" {
		t.Fatalf("after a mismatched key a new handshake got %q, want the old certificate", got)
	}
}

func TestTLSBadCertAtStartFailsNamingTheKey(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unreadable pair", []string{"--tls-cert", certFile, "--tls-key", keyFile}, nil, "tls_cert_file " + certFile},
		{"missing file", []string{"--tls-cert", filepath.Join(dir, "absent.pem")}, nil, "tls_cert_file " + filepath.Join(dir, "absent.pem")},
		{"key without cert", nil, []string{"REVERB_TLS_KEY=" + keyFile}, "tls_key_file is set but tls_cert_file is not"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"start", "--host", "127.0.0.1", "--port", fmt.Sprint(freePort(t))}, tc.args...)
			cmd := exec.Command(binary_, args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("resound did not exit on a bad certificate")
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestTLSDrainClosesWSSWith4200AndExitsZero(t *testing.T) {
	ts := startTLSServer(t, "drain")
	c := ts.dialWSS(t)
	if err := ts.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.expectError(); code != 4200 {
		t.Fatalf("pusher:error %d during a drain, want 4200", code)
	}
	if code := c.expectClose(); code != 4200 {
		t.Fatalf("close %d during a drain, want 4200", code)
	}
	c.conn.Close()
	select {
	case <-ts.done:
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit after the drain")
	}
	if code := ts.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after a drain, want 0", code)
	}
}

func TestTLSSilentConnectionIsClosedAfterHandshakeTimeout(t *testing.T) {
	ts := startTLSServerWith(t, "silent", `{"handshake_timeout":1,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1"}]}`)
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a connection that never sent a ClientHello: %v, want EOF", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("closed after %s, want about handshake_timeout (1 s)", waited)
	}
}

func TestTLSOverMaxTotalConnectionsGets503OverTLS(t *testing.T) {
	ts := startTLSServerWith(t, "full", `{"max_total_connections":1,"apps":[{"id":"app-1","key":"key-1","secret":"secret-1"}]}`)
	// The start-up probe's connection may still be closing: retry until
	// the one slot is free.
	var held *client
	deadline := time.Now().Add(10 * time.Second)
	for held == nil {
		var err error
		if held, err = ts.tryDialWSS(t); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the only slot never came free: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	status, body, err := ts.get("/up")
	if err != nil || status != 503 || !strings.Contains(body, "max_total_connections (1)") {
		t.Fatalf("over the cap: %d %q %v, want 503 naming the limit", status, body, err)
	}
	held.ping()
}

// A wss:// socket that stops reading is cut off at max_outbound_bytes like
// a plain one, although the loop only sees its end of the socketpair; and
// the relay then ends too within the linger time, although the client
// still reads nothing, rather than holding the socket past the count.
func TestTLSSlowConsumerIsCutOffAndTheRelayEnds(t *testing.T) {
	ts := startTLSServer(t, "slow")
	small := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	conn, err := tls.DialWithDialer(small, "tcp", ts.addr, tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	slow := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if _, err := conn.Write([]byte(handshake("/app/"+appKey+"?protocol=7&client=js&version=8.4.0", ""))); err != nil {
		t.Fatal(err)
	}
	if head := slow.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("wss handshake refused: %q", head)
	}
	slow.expect("pusher:connection_established")
	slow.subscribe("flood")
	fast := ts.dialWSS(t)
	fast.subscribe("flood")
	const events, size = 60, 60000
	payload := strings.Repeat("z", size)
	for i := range events {
		ts.publish(t, "flood", "chunk", payload)
		if m := fast.expect("chunk"); len(m.dataString()) != size {
			t.Fatalf("fast subscriber got %d bytes in event %d", len(m.dataString()), i)
		}
	}
	// The slow socket left the server's count: only the fast one remains.
	deadline := time.Now().Add(10 * time.Second)
	query := strings.SplitN(signedURL(ts.addr, "GET", "/apps/"+appID+"/connections", nil, ""), "?", 2)[1]
	for {
		_, body, err := ts.get("/apps/" + appID + "/connections?" + query)
		if err == nil && strings.Contains(body, `"connections":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow wss socket was never cut off: %s %v", body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, serverPort, _ := net.SplitHostPort(ts.addr)
	tcpState := func(c net.Conn) string {
		_, clientPort, _ := net.SplitHostPort(c.LocalAddr().String())
		return serverSideTCPState(t, serverPort, clientPort)
	}
	if st := tcpState(fast.conn); st != tcpEstablished {
		t.Fatalf("the fast client's socket on the server is in state %q, want established", st)
	}
	deadline = time.Now().Add(15 * time.Second) // the relay's stall timeout is 60 s
	for tcpState(conn) == tcpEstablished {
		if time.Now().After(deadline) {
			t.Fatal("the server still holds the cut-off wss socket open: its relay did not end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := 0
	for {
		f, err := slow.readFrame(10 * time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the relay kept the cut-off connection open after %d events", got)
			}
			break
		}
		if f.op == 0x1 && strings.Contains(string(f.payload), `"chunk"`) {
			got++
		}
	}
	if got >= events {
		t.Fatalf("the slow socket received all %d events: it was never cut off", got)
	}
	fast.ping()
}

const tcpEstablished = "01"

// serverSideTCPState is the kernel's state (hex, as /proc/net/tcp has it)
// of the loopback socket from serverPort to clientPort, "" if none.
func serverSideTCPState(t *testing.T, serverPort, clientPort string) string {
	t.Helper()
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	hexPort := func(p string) string {
		var n int
		fmt.Sscan(p, &n)
		return fmt.Sprintf(":%04X", n)
	}
	local, remote := hexPort(serverPort), hexPort(clientPort)
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], local) && strings.HasSuffix(f[2], remote) {
			return f[3]
		}
	}
	return ""
}
