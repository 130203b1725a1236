package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestEnvFileProcess starts the binary on a Laravel .env: the app comes
// from the file, the --port flag beats REVERB_SERVER_PORT in it, and the
// process environment beats the file.
func TestEnvFileProcess(t *testing.T) {
	filePort := freePort(t)
	envFile := fmt.Sprintf(`APP_NAME="My App"
APP_KEY=base64:2fl+Ktvkfl+Fuz4Qp/A75G2RTiWVA/ZoKZvp6fiiM10=
DB_PASSWORD="p@ss word#1"
MAIL_MAILER=log

# Reverb
BROADCAST_CONNECTION=reverb
export REVERB_APP_ID=423501
REVERB_APP_KEY="envfile-key"   # what browsers connect with
REVERB_APP_SECRET='s3cr$ET'
REVERB_HOST="ws.example.test"
REVERB_PORT=443
REVERB_SERVER_HOST=127.0.0.1
REVERB_SERVER_PORT=%d
REVERB_APP_ACTIVITY_TIMEOUT=40

REDIS_PASSWORD=null
VITE_REVERB_APP_KEY="${REVERB_APP_KEY}"
`, filePort)
	path := writeTemp(t, ".env", envFile)
	s := startServerEnv(t, "{}", []string{"REVERB_APP_ACTIVITY_TIMEOUT=50"}, "--env-file", path)

	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", filePort), time.Second); err == nil {
		conn.Close()
		t.Errorf("something listens on the .env's port %d; the --port flag should have won", filePort)
	}

	c, head := rawDial(t, s, "/app/envfile-key?protocol=7&client=js&version=8.4.0", "")
	if !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("handshake with the .env's key refused: %q", head)
	}
	established := c.expect("pusher:connection_established").dataObject(t)
	if at := established["activity_timeout"]; at != float64(50) {
		t.Errorf("activity_timeout = %v, want 50 from the environment over 40 in the .env", at)
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "orders"}})
	c.expect("pusher_internal:subscription_succeeded")

	app := appCreds{"423501", "envfile-key", "s3cr$ET"}
	body := `{"name":"shipped","channel":"orders","data":"{\"id\":7}"}`
	resp, err := http.Post(signedURLAs(app, s.addr, "POST", "/apps/423501/events", nil, body), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish signed with the .env's secret: %d %s", resp.StatusCode, reply)
	}
	if got := c.expect("shipped").dataString(); got != `{"id":7}` {
		t.Errorf("event data = %q", got)
	}
}

// TestEnvFileBadValueStopsStart: a malformed value or a missing file stops
// the process with status 1 and a message naming the key and the file.
func TestEnvFileBadValueStopsStart(t *testing.T) {
	bad := writeTemp(t, ".env", "APP_KEY=whatever\nREVERB_SERVER_PORT=abc\n")
	missing := bad + ".missing"
	for file, want := range map[string]string{
		bad:     `REVERB_SERVER_PORT="abc" in ` + bad + `: expected a port number`,
		missing: `--env-file: open ` + missing + `: no such file`,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, binary_, "start", "--port", fmt.Sprint(freePort(t)), "--env-file", file)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		cancel()
		exit, ok := err.(*exec.ExitError)
		if !ok || exit.ExitCode() != 1 {
			t.Errorf("--env-file %s: err %v, want exit status 1; output:\n%s", file, err, out)
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("--env-file %s: output %q, want it to contain %q", file, out, want)
		}
	}
}
