package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/resound/resound/hub"
	"github.com/resound/resound/webhook"
)

func TestObservabilityKeysFromTheConfigFile(t *testing.T) {
	path := writeTemp(t, "config.json", `{"metrics_host":"::1","metrics_port":9464,"log_format":"json"}`)
	c, err := loadConfig(path, "", fakeEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.checkObservability(); err != nil {
		t.Fatal(err)
	}
	if got := c.metricsAddr(); got != "[::1]:9464" {
		t.Errorf("metrics address %q, want [::1]:9464", got)
	}
	if c.LogFormat != "json" {
		t.Errorf("log_format %q, want json", c.LogFormat)
	}
}

func TestMetricsAreOffUnlessAPortIsGiven(t *testing.T) {
	if got := (Config{MetricsHost: "0.0.0.0"}).metricsAddr(); got != "" {
		t.Errorf("no metrics_port: address %q, want metrics off", got)
	}
	if got := (Config{MetricsPort: 9464}).metricsAddr(); got != "127.0.0.1:9464" {
		t.Errorf("metrics_port alone: %q, want 127.0.0.1:9464", got)
	}
}

func TestObservabilityKeysRefuseBadValues(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{LogFormat: "xml"}, `log_format "xml": expected text or json`},
		{Config{MetricsPort: 70000}, "metrics_port 70000: expected a port number"},
		{Config{MetricsPort: -2}, "metrics_port -2"},
		{Config{MetricsPort: 8080}, "metrics_port 8080 is the public port"},
		{Config{Port: 9000, MetricsPort: 9000}, "metrics_port 9000 is the public port"},
	} {
		err := c.cfg.checkObservability()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
	for _, ok := range []Config{{}, {LogFormat: "text"}, {LogFormat: "json", MetricsPort: 1}} {
		if err := ok.checkObservability(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestSummaryRedactsEverySecret(t *testing.T) {
	c := Config{
		Apps: []hub.AppConfig{{ID: "a1", Key: "k1", Secret: "app-secret-value", Webhooks: []webhook.Config{{
			URL:        "https://hook-user:hook-password-value@example.com/pusher?token=hook-token-value",
			EventTypes: []string{"channel_occupied"}, Headers: map[string]string{"Authorization": "Bearer hook-header-value"}}}}},
		Scaling: hub.RedisConfig{Enabled: true, Password: "redis-password-value",
			URL: "redis://user:url-password-value@10.0.0.5:6379/2"},
	}
	b, err := json.Marshal(c.effective().redactedCopy())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, secret := range []string{"app-secret-value", "redis-password-value", "url-password-value",
		"hook-password-value", "hook-token-value", "hook-header-value"} {
		if strings.Contains(s, secret) {
			t.Errorf("summary shows %q: %s", secret, s)
		}
	}
	for _, kept := range []string{`"key":"k1"`, `"url":"redis://user:[redacted]@10.0.0.5:6379/2"`,
		`"url":"https://hook-user:[redacted]@example.com/pusher?[redacted]"`, `"Authorization":"[redacted]"`, `"max_connections":0`, `"ping_interval":60`, `"port":8080`} {
		if !strings.Contains(s, kept) {
			t.Errorf("summary lacks %s: %s", kept, s)
		}
	}
	if c.Apps[0].Secret != "app-secret-value" || c.Scaling.Password != "redis-password-value" ||
		c.Apps[0].Webhooks[0].Headers["Authorization"] != "Bearer hook-header-value" || !strings.Contains(c.Apps[0].Webhooks[0].URL, "hook-token-value") {
		t.Error("redacting changed the running config")
	}
	if got := redactURL("redis://%zz@host"); got != redacted {
		t.Errorf("unparsable URL shown as %q, want it hidden whole", got)
	}
	for raw, want := range map[string]string{
		"redis://:pw@h:1/0":   "redis://:[redacted]@h:1/0",
		"rediss://u:pw@h:1/0": "rediss://u:[redacted]@h:1/0",
		"redis://h:1/0":       "redis://h:1/0",
		"redis://u@h:1/0":     "redis://u@h:1/0",
	} {
		if got := redactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// jsonLines decodes every log line, failing on one that is not a JSON
// object with a time and a message.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		if line == "" {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Errorf("log line is not one JSON object: %q (%v)", line, err)
			continue
		}
		if _, ok := obj["time"].(string); !ok {
			t.Errorf("log line without time: %q", line)
		}
		if _, ok := obj["msg"].(string); !ok {
			t.Errorf("log line without msg: %q", line)
		}
		out = append(out, obj)
	}
	return out
}

// TestJSONLogsWithTheDefaultApp: the generated app's credentials, printed
// on stdout in the text format, are one JSON line too.
func TestJSONLogsWithTheDefaultApp(t *testing.T) {
	s := startServer(t, `{}`, "--log-format", "json")
	s.stop()
	var found map[string]any
	for _, obj := range jsonLines(t, s.logs.String()) {
		if strings.HasPrefix(obj["msg"].(string), "No apps configured") {
			found = obj
		}
	}
	if found == nil || found["REVERB_APP_ID"] != "resound" || found["REVERB_APP_KEY"] == "" || found["REVERB_APP_SECRET"] == "" {
		t.Errorf("no JSON line with the default app's credentials:\n%s", s.logs.String())
	}
}

// TestJSONLogLines starts the binary with --log-format json: every line it
// writes is one JSON object, and the startup summary carries the config
// with the app secret redacted.
func TestJSONLogLines(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"]}]}`, "--log-format", "json")
	dial(t, s) // a socket, so the run is not only the startup
	s.stop()
	var summary map[string]any
	lines := jsonLines(t, s.logs.String())
	for _, obj := range lines {
		if msg, _ := obj["msg"].(string); strings.Contains(msg, "effective config") {
			summary = obj
		}
	}
	if len(lines) < 3 {
		t.Fatalf("only %d log lines:\n%s", len(lines), s.logs.String())
	}
	if summary == nil {
		t.Fatalf("no startup summary in:\n%s", s.logs.String())
	}
	cfg, _ := summary["config"].(map[string]any)
	apps, _ := cfg["apps"].([]any)
	if len(apps) != 1 {
		t.Fatalf("summary config has apps %v", cfg["apps"])
	}
	app, _ := apps[0].(map[string]any)
	if app["secret"] != redacted || app["key"] != "key-1" {
		t.Errorf("summary app: %v", app)
	}
	if strings.Contains(s.logs.String(), "secret-1") {
		t.Errorf("the app secret appears in the logs:\n%s", s.logs.String())
	}
}

func TestTextSummaryIsOneLineWithoutSecrets(t *testing.T) {
	s := startServer(t, defaultApps)
	s.stop()
	var found int
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "resound: effective config: {") {
			found++
		}
	}
	if found != 1 || strings.Contains(s.logs.String(), appSecret) {
		t.Errorf("want one summary line and no secret:\n%s", s.logs.String())
	}
}

// TestObservabilityFlagsStopABadStart: a bad --log-format and a metrics
// port already taken stop the start with exit status 1 naming the key.
func TestObservabilityFlagsStopABadStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := fmt.Sprint(taken.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml"}, `log_format "xml": expected text or json`},
		{[]string{"--metrics-port", takenPort}, "metrics_port: cannot serve metrics on 127.0.0.1:" + takenPort},
		{[]string{"--metrics-port", takenPort, "--log-format", "json"}, `"level":"ERROR","msg":"resound: metrics_port: cannot serve metrics`},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		args := append([]string{"start", "--host", "127.0.0.1", "--port", fmt.Sprint(freePort(t))}, c.args...)
		cmd := exec.CommandContext(ctx, binary_, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		cancel()
		exit, ok := err.(*exec.ExitError)
		if !ok || exit.ExitCode() != 1 {
			t.Errorf("%v: err %v, want exit status 1; output:\n%s", c.args, err, out)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%v: output %q, want it to contain %q", c.args, out, c.want)
		}
	}
}
