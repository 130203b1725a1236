package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookEvent is one webhook event as a receiver sees it.
type hookEvent struct {
	Name     string `json:"name"`
	Channel  string `json:"channel"`
	UserID   string `json:"user_id"`
	Event    string `json:"event"`
	Data     string `json:"data"`
	SocketID string `json:"socket_id"`
	Count    int    `json:"subscription_count"`
}

func (e hookEvent) String() string {
	s := e.Name + " " + e.Channel
	if e.UserID != "" {
		s += " " + e.UserID
	}
	if e.Event != "" {
		s += " " + e.Event
	}
	return s
}

// hookReceiver is a real HTTP server that checks every POST's key and
// signature and records its events in arrival order. While failing is
// set it answers 500 and records nothing.
type hookReceiver struct {
	t       *testing.T
	url     string
	mu      sync.Mutex
	events  []hookEvent
	posts   int
	refused int
	failing bool
	arrived chan struct{}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t, arrived: make(chan struct{}, 10000)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/pusher/webhooks"
	return r
}

// readHookPost reads one webhook POST as a back end would check it: the
// method, key and content type, the signature of the body, and a body with
// time_ms and events. It returns the events and what was wrong, if anything.
func readHookPost(req *http.Request) (events []hookEvent, problem string) {
	body, _ := io.ReadAll(req.Body)
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	var b struct {
		TimeMs int64       `json:"time_ms"`
		Events []hookEvent `json:"events"`
	}
	err := json.Unmarshal(body, &b)
	switch {
	case req.Method != "POST" || req.Header.Get("X-Pusher-Key") != appKey || req.Header.Get("Content-Type") != "application/json":
		problem = fmt.Sprintf("%s with headers %v", req.Method, req.Header)
	case req.Header.Get("X-Pusher-Signature") != hex.EncodeToString(m.Sum(nil)):
		problem = fmt.Sprintf("signature %q does not match the body %.200s", req.Header.Get("X-Pusher-Signature"), body)
	case err != nil || b.TimeMs == 0 || len(b.Events) == 0:
		problem = fmt.Sprintf("body %.200s: %v", body, err)
	}
	return b.Events, problem
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	events, problem := readHookPost(req)
	if problem != "" {
		r.t.Errorf("webhook request: %s", problem)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		r.refused++
		w.WriteHeader(500)
		return
	}
	r.posts++
	r.events = append(r.events, events...)
	r.arrived <- struct{}{}
}

// waitFor waits until an event matching want (its String) has arrived and
// returns everything so far.
func (r *hookReceiver) waitFor(want string) []string {
	r.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		got := r.seen()
		for _, s := range got {
			if s == want {
				return got
			}
		}
		select {
		case <-r.arrived:
		case <-deadline:
			r.t.Fatalf("webhook %q never arrived; got %q", want, got)
		}
	}
}

func (r *hookReceiver) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, e := range r.events {
		out[i] = e.String()
	}
	return out
}

func (r *hookReceiver) event(i int) hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[i]
}

// webhookConfig is one app with the given webhooks and fast delivery.
func webhookConfig(hooks string, extra string) string {
	return fmt.Sprintf(`{"expose_stats":true,"webhooks":{"delay_ms":400,"batch_ms":20,"retry_min_ms":50,"retry_max_ms":200%s},
		"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"],"webhooks":%s}]}`, extra, hooks)
}

const allHookEvents = `["channel_occupied","channel_vacated","member_added","member_removed","client_event","cache_miss"]`

// TestWebhooksTellALifeOfAPresenceChannel: occupied, member added, client
// event, member removed, vacated, each once and in order; a second socket
// of the same user and a quick rejoin (a page reload) fire nothing; a cache
// miss is reported; a filtered webhook gets only its channels.
func TestWebhooksTellALifeOfAPresenceChannel(t *testing.T) {
	all, private := newHookReceiver(t), newHookReceiver(t)
	cfg := webhookConfig(fmt.Sprintf(`[{"url":%q,"event_types":%s},
		{"url":%q,"event_types":["client_event"],"filter":{"channel_name_starts_with":"private-"}}]`, all.url, allHookEvents, private.url), "")
	// The reload below must land within the delay even on a busy machine.
	s := startServer(t, strings.Replace(cfg, `"delay_ms":400`, `"delay_ms":1500`, 1))
	a, b := dial(t, s), dial(t, s)
	a.join("presence-room", `{"user_id":"u1","user_info":{"name":"Ann"}}`)
	all.waitFor("member_added presence-room u1")
	a.send(map[string]any{"event": "client-typing", "channel": "presence-room", "data": map[string]any{"on": true}})
	all.waitFor("client_event presence-room u1 client-typing")
	// A second socket of u1 comes and goes: the user never left.
	b.join("presence-room", `{"user_id":"u1","user_info":{"name":"Ann"}}`)
	b.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "presence-room"}})
	// A reload: a's socket leaves and a new one joins within the delay.
	a.conn.Close()
	c := dial(t, s)
	c.join("presence-room", `{"user_id":"u1"}`)
	c.subscribe("private-chat")
	c.send(map[string]any{"event": "client-hi", "channel": "private-chat", "data": "hello"})
	private.waitFor("client_event private-chat client-hi")
	c.conn.Close()
	all.waitFor("channel_vacated presence-room")
	// A marker after the delay: anything held would have arrived before it.
	d := dial(t, s)
	d.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "cache-news"}})
	d.expect("pusher:cache_miss", "pusher_internal:subscription_succeeded")
	got := all.waitFor("cache_miss cache-news")
	want := []string{
		"channel_occupied presence-room", "member_added presence-room u1", "client_event presence-room u1 client-typing",
		"channel_occupied private-chat", "client_event private-chat client-hi",
		"member_removed presence-room u1", "channel_vacated presence-room", "channel_vacated private-chat",
		"channel_occupied cache-news", "cache_miss cache-news",
	}
	if !sameEvents(got, want) {
		t.Fatalf("webhooks\n got %q\nwant %q (in this order for presence-room)", got, want)
	}
	if p := private.seen(); len(p) != 1 {
		t.Fatalf("the private- webhook got %q, want only the private-chat client event", p)
	}
	ce := all.event(2)
	if ce.SocketID == "" || ce.Data != `{"on":true}` {
		t.Fatalf("client_event %+v: want the sender's socket_id and the data as a string", ce)
	}
}

// sameEvents compares arrival order per channel (channels interleave freely).
func sameEvents(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	byChannel := func(list []string) map[string]string {
		out := map[string]string{}
		for _, s := range list {
			ch := strings.Fields(s)[1]
			out[ch] += s + "|"
		}
		return out
	}
	g, w := byChannel(got), byChannel(want)
	if len(g) != len(w) {
		return false
	}
	for ch, seq := range w {
		if g[ch] != seq {
			return false
		}
	}
	return true
}

// TestWebhooksAreRetriedUntilTheReceiverAnswers: a receiver answering 500
// gets every event once it answers 200, and /stats counts the retries.
func TestWebhooksAreRetriedUntilTheReceiverAnswers(t *testing.T) {
	r := newHookReceiver(t)
	r.failing = true
	mport := freePort(t)
	s := startServer(t, webhookConfig(fmt.Sprintf(`[{"url":%q,"event_types":%s}]`, r.url, allHookEvents), ""),
		"--metrics-port", fmt.Sprint(mport))
	c := dial(t, s)
	c.join("presence-retry", `{"user_id":"u9"}`)
	c.send(map[string]any{"event": "client-x", "channel": "presence-retry", "data": "1"})
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.mu.Lock()
		refused := r.refused
		r.mu.Unlock()
		if refused >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d refused attempts", refused)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	r.failing = false
	r.mu.Unlock()
	got := r.waitFor("client_event presence-retry u9 client-x")
	want := []string{"channel_occupied presence-retry", "member_added presence-retry u9", "client_event presence-retry u9 client-x"}
	if !sameEvents(got, want) {
		t.Fatalf("after retries got %q, want %q once each", got, want)
	}
	resp, err := http.Get("http://" + s.addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		Webhooks struct{ Sent, Retried, Failed, Dropped int }
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	w := stats.Webhooks
	if w.Sent < 1 || w.Retried < 3 || w.Failed != 0 || w.Dropped != 0 {
		t.Fatalf("/stats webhooks %+v: want sent, at least 3 retried, none failed or dropped", w)
	}
	// Prometheus shows the same counts (nothing is sent meanwhile).
	m := scrape(t, fmt.Sprintf("127.0.0.1:%d", mport))
	sent, retried := value(m, "resound_webhook_posts_total", "result", "sent"), value(m, "resound_webhook_posts_total", "result", "retried")
	if int(sent) != w.Sent || int(retried) != w.Retried || value(m, "resound_webhook_events_dropped_total") != 0 {
		t.Fatalf("metrics: %v sent, %v retried; /stats said %+v", sent, retried, w)
	}
}

// TestWebhookConfigErrorsStopTheServer: a bad webhook is refused at start
// with a message saying what to fix.
func TestWebhookConfigErrorsStopTheServer(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(webhookConfig(`[{"url":"http://127.0.0.1:1/","event_types":["member_joined"]}]`, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary_, "start", "--port", fmt.Sprint(freePort(t)), "--config", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("err %v, want exit status 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), `unknown event type "member_joined"`) {
		t.Fatalf("output %q does not explain the bad event type", out)
	}
}

// TestWebhooksSubscriptionCount: when listed, each subscribe and
// unsubscribe reports the channel's new count.
func TestWebhooksSubscriptionCount(t *testing.T) {
	r := newHookReceiver(t)
	s := startServer(t, webhookConfig(fmt.Sprintf(`[{"url":%q,"event_types":["subscription_count"]}]`, r.url), ""))
	a, b := dial(t, s), dial(t, s)
	a.subscribe("counted")
	b.subscribe("counted")
	b.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "counted"}})
	a.conn.Close()
	deadline := time.After(15 * time.Second)
	for len(r.seen()) < 3 {
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("got %q", r.seen())
		}
	}
	var counts []int
	r.mu.Lock()
	for _, e := range r.events {
		counts = append(counts, e.Count)
	}
	r.mu.Unlock()
	if fmt.Sprint(counts) != "[1 2 1]" {
		t.Fatalf("subscription counts %v, want [1 2 1] (the last leave vacates: no count 0)", counts)
	}
}

// TestWebhooksSkipPresenceCountsAndUserChannels: as with Pusher, presence
// channels get no subscription_count webhook, and a signed-in user's
// #server-to-user- channel fires no webhook at all.
func TestWebhooksSkipPresenceCountsAndUserChannels(t *testing.T) {
	r := newHookReceiver(t)
	s := startServer(t, webhookConfig(fmt.Sprintf(`[{"url":%q,"event_types":["subscription_count","channel_occupied","channel_vacated"]}]`, r.url), ""))
	a, b := dial(t, s), dial(t, s)
	a.signin(`{"id":"42"}`)
	a.subscribe("#server-to-user-42")
	// b first, so that a reads no member_added before its next reply.
	b.join("presence-room", `{"user_id":"7"}`)
	a.join("presence-room", `{"user_id":"42"}`)
	// A marker after the rest: anything they fired arrives before it.
	a.subscribe("counted")
	got := r.waitFor("subscription_count counted")
	want := []string{"channel_occupied presence-room", "channel_occupied counted", "subscription_count counted"}
	if !sameEvents(got, want) {
		t.Fatalf("webhooks %q, want %q", got, want)
	}
}
