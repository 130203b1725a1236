package api

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resound/resound/hub"
)

// node stands in for the engine's two read-only methods.
type node struct{ draining atomic.Bool }

func (n *node) Draining() bool         { return n.draining.Load() }
func (n *node) OpenConnections() int64 { return 0 }

func newTestAPI(t *testing.T, opts Options) (*API, *node) {
	t.Helper()
	h, err := hub.New([]hub.AppConfig{{ID: "app-1", Key: "key-1", Secret: "secret-1"}},
		hub.Options{Frame: func(p []byte) []byte { return p }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	n := &node{}
	return New(h, n, opts), n
}

// answer is one reply the API gave.
type answer struct {
	resp       *http.Response
	body       string
	closeAfter bool
	sync       bool // given before ServeHTTP returned
}

// call hands raw to the API and waits for its reply.
func call(t *testing.T, a *API, raw string) answer {
	t.Helper()
	got := make(chan answer, 1)
	returned := atomic.Bool{}
	a.ServeHTTP([]byte(raw), func(resp []byte, closeAfter bool) {
		r, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), nil)
		if err != nil {
			t.Errorf("unparsable response %q: %v", resp, err)
			got <- answer{}
			return
		}
		b, _ := io.ReadAll(r.Body)
		got <- answer{resp: r, body: string(b), closeAfter: closeAfter, sync: !returned.Load()}
	})
	returned.Store(true)
	select {
	case ans := <-got:
		return ans
	case <-time.After(5 * time.Second):
		t.Fatalf("no reply to %q within 5 s", raw)
		return answer{}
	}
}

// signed builds a signed API request the way the Pusher SDKs do.
func signed(method, path, body string) string {
	q := map[string]string{"auth_key": "key-1", "auth_timestamp": strconv.FormatInt(time.Now().Unix(), 10), "auth_version": "1.0"}
	if body != "" {
		sum := md5.Sum([]byte(body))
		q["body_md5"] = hex.EncodeToString(sum[:])
	}
	keys := []string{"auth_key", "auth_timestamp", "auth_version"}
	if body != "" {
		keys = []string{"auth_key", "auth_timestamp", "auth_version", "body_md5"}
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + q[k]
	}
	query := strings.Join(parts, "&")
	mac := hmac.New(sha256.New, []byte("secret-1"))
	mac.Write([]byte(method + "\n" + path + "\n" + query))
	sig := hex.EncodeToString(mac.Sum(nil))
	return fmt.Sprintf("%s %s?%s&auth_signature=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", method, path, query, sig, len(body), body)
}

func TestHealthIsAnsweredBeforeServeHTTPReturns(t *testing.T) {
	a, n := newTestAPI(t, Options{Path: "/ws"})
	// No worker can run: a health check that needed one would never answer.
	a.cpu = newPool(0, 1)
	for _, raw := range []string{"GET /up HTTP/1.1\r\n\r\n", "GET /ws/up?x=1 HTTP/1.1\r\n\r\n"} {
		ans := call(t, a, raw)
		if !ans.sync || ans.resp.StatusCode != 200 || ans.body != `{"health":"OK"}` || ans.closeAfter {
			t.Fatalf("%q: sync=%v %d %q close=%v", raw, ans.sync, ans.resp.StatusCode, ans.body, ans.closeAfter)
		}
	}
	ans := call(t, a, "GET /ready HTTP/1.1\r\nConnection: close\r\n\r\n")
	if !ans.sync || ans.resp.StatusCode != 200 || ans.body != `{"ready":true}` || !ans.closeAfter || !ans.resp.Close {
		t.Fatalf("ready: sync=%v %d %q close=%v", ans.sync, ans.resp.StatusCode, ans.body, ans.closeAfter)
	}
	ans = call(t, a, "HEAD /up HTTP/1.1\r\n\r\n")
	if ans.resp.StatusCode != 200 || ans.resp.Header.Get("Content-Length") != "15" {
		t.Fatalf("HEAD: %d %v", ans.resp.StatusCode, ans.resp.Header)
	}
	n.draining.Store(true)
	ans = call(t, a, "GET /ready HTTP/1.1\r\n\r\n")
	if !ans.sync || ans.resp.StatusCode != 503 || !strings.Contains(ans.body, "draining") {
		t.Fatalf("draining: sync=%v %d %q", ans.sync, ans.resp.StatusCode, ans.body)
	}
	if ans = call(t, a, "GET /up HTTP/1.1\r\n\r\n"); ans.resp.StatusCode != 200 {
		t.Fatalf("/up while draining: %d", ans.resp.StatusCode)
	}
}

func TestFullQueueIs503WithRetryAfter(t *testing.T) {
	a, _ := newTestAPI(t, Options{})
	a.cpu = newPool(0, 1) // holds one request that no worker takes
	a.ServeHTTP([]byte(signed("GET", "/apps/app-1/channels", "")), func([]byte, bool) {
		t.Error("the queued request cannot be answered: no worker runs")
	})
	ans := call(t, a, signed("GET", "/apps/app-1/channels", ""))
	if !ans.sync || ans.resp.StatusCode != 503 || ans.resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(ans.body, "Server busy") || strings.Count(ans.body, "\n") != 1 || ans.closeAfter {
		t.Fatalf("sync=%v %d %v %q close=%v", ans.sync, ans.resp.StatusCode, ans.resp.Header, ans.body, ans.closeAfter)
	}
}

func TestFullBusQueueIs503WithRetryAfter(t *testing.T) {
	a, _ := newTestAPI(t, Options{})
	a.bus = newPool(0, 1)
	body := `{"name":"e","channel":"c","data":"x"}`
	held := make(chan struct{}, 1)
	a.ServeHTTP([]byte(signed("POST", "/apps/app-1/events", body)), func([]byte, bool) { held <- struct{}{} })
	for deadline := time.Now().Add(5 * time.Second); len(a.bus.jobs) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first publish never reached the bus queue")
		}
	}
	ans := call(t, a, signed("POST", "/apps/app-1/events", body))
	if ans.resp.StatusCode != 503 || ans.resp.Header.Get("Retry-After") != "1" || !strings.Contains(ans.body, "Redis and the bus") {
		t.Fatalf("%d %v %q", ans.resp.StatusCode, ans.resp.Header, ans.body)
	}
	select {
	case <-held:
		t.Fatal("the queued publish was answered without a bus worker")
	default:
	}
}

func TestPassedDeadlineIs503(t *testing.T) {
	a, _ := newTestAPI(t, Options{Timeout: time.Nanosecond})
	ans := call(t, a, signed("POST", "/apps/app-1/events", `{"name":"e","channel":"c","data":"x"}`))
	if ans.resp.StatusCode != 503 || ans.resp.Header.Get("Retry-After") != "1" || !strings.Contains(ans.body, "api_timeout") {
		t.Fatalf("%d %v %q", ans.resp.StatusCode, ans.resp.Header, ans.body)
	}
}

func TestRequestsThroughBothPools(t *testing.T) {
	a, _ := newTestAPI(t, Options{})
	ans := call(t, a, signed("POST", "/apps/app-1/events", `{"name":"e","channel":"c","data":"x"}`))
	if ans.sync || ans.resp.StatusCode != 200 || ans.body != "{}" {
		t.Fatalf("publish: sync=%v %d %q", ans.sync, ans.resp.StatusCode, ans.body)
	}
	if ans = call(t, a, signed("GET", "/apps/app-1/channels", "")); ans.resp.StatusCode != 200 || ans.body != `{"channels":{}}` {
		t.Fatalf("channels: %d %q", ans.resp.StatusCode, ans.body)
	}
	// Refusals that need no cluster state never reach the bus pool.
	a.bus = newPool(0, 0)
	if ans = call(t, a, signed("GET", "/apps/app-1/channels/news?info=user_count", "")); ans.resp.StatusCode != 401 {
		t.Fatalf("query string outside the signature: %d %q", ans.resp.StatusCode, ans.body)
	}
	if ans = call(t, a, signed("POST", "/apps/app-1/events", `{"name":"e"}`)); ans.resp.StatusCode != 422 {
		t.Fatalf("invalid event: %d %q", ans.resp.StatusCode, ans.body)
	}
	if ans = call(t, a, "GET /apps/app-1/events HTTP/1.1\r\nHost: x\r\n\r\n"); ans.resp.StatusCode != 405 || ans.resp.Header.Get("Allow") != "POST" {
		t.Fatalf("wrong method: %d %v", ans.resp.StatusCode, ans.resp.Header)
	}
	if ans = call(t, a, "HELLO\r\n\r\n"); ans.resp.StatusCode != 400 || !ans.closeAfter {
		t.Fatalf("garbage: %d close=%v", ans.resp.StatusCode, ans.closeAfter)
	}
}
