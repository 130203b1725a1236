package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func sign(secret, s string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(s))
	return hex.EncodeToString(mac.Sum(nil))
}

// signedURL signs method+path+params for app-1 the way the Pusher SDKs do,
// written independently of the server's code so a shared bug cannot hide.
func signedURL(addr, method, path string, params map[string]string, body string) string {
	return signedURLAs(app1, addr, method, path, params, body)
}

// api calls the HTTP API signed and returns status and body.
func api(t *testing.T, s *server, method, path string, params map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, signedURL(s.addr, method, path, params, body), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// trigger publishes an event and requires 200.
func trigger(t *testing.T, s *server, channel, event, data, socketID string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"channel":%q,"data":%q`, event, channel, data)
	if socketID != "" {
		body += fmt.Sprintf(`,"socket_id":%q`, socketID)
	}
	body += "}"
	status, resp := api(t, s, "POST", "/apps/"+appID+"/events", nil, body)
	if status != 200 {
		t.Fatalf("trigger: %d %s", status, resp)
	}
}
