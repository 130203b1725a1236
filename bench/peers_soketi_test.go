package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSoketiEnvKeepsEveryListenerOffTheDefaults(t *testing.T) {
	env := map[string]string{}
	for _, kv := range soketiEnv(7001, 7002, 7003) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{
		"SOKETI_HOST": "127.0.0.1", "SOKETI_PORT": "7001",
		"SOKETI_METRICS_HOST": "127.0.0.1", "SOKETI_METRICS_SERVER_PORT": "7002",
		"SOKETI_CLUSTER_HOST": "127.0.0.1", "SOKETI_CLUSTER_PORT": "7003",
		"SOKETI_DEFAULT_APP_ID": "bench", "SOKETI_DEFAULT_APP_KEY": "bench-key", "SOKETI_DEFAULT_APP_SECRET": "bench-secret",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
}

// TestStartSoketiReportsAnEarlyExit starts a stand-in launcher that fails
// at once: the error must carry its output instead of waiting out the
// start-up budget.
func TestStartSoketiReportsAnEarlyExit(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "soketi")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'uWebSockets.js: no native binary for this platform' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := startSoketi(bin)
	if err == nil {
		srv.stop()
		t.Fatal("a launcher that exits at once was reported as started")
	}
	if !strings.Contains(err.Error(), "exited at startup") || !strings.Contains(err.Error(), "no native binary") {
		t.Errorf("error lacks the cause: %v", err)
	}
}
