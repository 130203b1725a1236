package main

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

func sign(secret, s string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(s))
	return hex.EncodeToString(mac.Sum(nil))
}

// signedURL signs method+path+params the way the Pusher SDKs do, written
// independently of the server's code so a shared bug cannot hide.
func signedURL(addr, method, path string, params map[string]string, body string) string {
	q := map[string]string{"auth_key": appKey, "auth_timestamp": fmt.Sprint(time.Now().Unix()), "auth_version": "1.0"}
	for k, v := range params {
		q[k] = v
	}
	if body != "" {
		sum := md5.Sum([]byte(body))
		q["body_md5"] = hex.EncodeToString(sum[:])
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + q[k]
	}
	query := strings.Join(parts, "&")
	sig := sign(appSecret, method+"\n"+path+"\n"+query)
	return "http://" + addr + path + "?" + query + "&auth_signature=" + sig
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
