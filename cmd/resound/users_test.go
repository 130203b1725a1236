package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// signinAuth is what a user authentication endpoint answers (pusher-php's
// authenticateUser), computed here independently of the server's code.
func signinAuth(socketID, userData string) string {
	return appKey + ":" + sign(appSecret, socketID+"::user::"+userData)
}

// signinWith sends pusher:signin with the given auth.
func (c *client) signinWith(auth, userData string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": auth, "user_data": userData}})
}

// signin signs in properly and waits for pusher:signin_success.
func (c *client) signin(userData string, skip ...string) message {
	c.t.Helper()
	c.signinWith(signinAuth(c.socketID, userData), userData)
	m := c.expect("pusher:signin_success", skip...)
	var d struct {
		UserData string `json:"user_data"`
	}
	if err := json.Unmarshal([]byte(m.dataString()), &d); err != nil || d.UserData != userData {
		c.t.Fatalf("signin_success data %s, want user_data %s", m.Data, userData)
	}
	return m
}

// expectSigninError reads pusher:signin_error and returns its type and text.
func (c *client) expectSigninError() (string, string) {
	c.t.Helper()
	d := c.expect("pusher:signin_error").dataObject(c.t)
	typ, _ := d["type"].(string)
	msg, _ := d["error"].(string)
	if st, _ := d["status"].(float64); st == 0 || typ == "" || msg == "" {
		c.t.Fatalf("signin_error lacks type, error or status: %v", d)
	}
	return typ, msg
}

// watchEvent describes a watchlist event as "online [a b]".
func watchEvent(t *testing.T, m message) string {
	t.Helper()
	var d struct {
		Events []struct {
			Name    string   `json:"name"`
			UserIDs []string `json:"user_ids"`
		} `json:"events"`
	}
	if m.Event != "pusher_internal:watchlist_events" || json.Unmarshal([]byte(m.dataString()), &d) != nil || len(d.Events) != 1 {
		t.Fatalf("want one watchlist event, got %s %s", m.Event, m.Data)
	}
	return fmt.Sprintf("%s %v", d.Events[0].Name, d.Events[0].UserIDs)
}

// expectWatch reads a watchlist event and requires its name and user ids.
func (c *client) expectWatch(name string, ids ...string) {
	c.t.Helper()
	if got, want := watchEvent(c.t, c.expect("pusher_internal:watchlist_events")), fmt.Sprintf("%s %v", name, ids); got != want {
		c.t.Fatalf("watchlist event %s, want %s", got, want)
	}
}

func (c *client) subscribeRefused(channel, wantType string) string {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": channel, "auth": ""}})
	m := c.expect("pusher:subscription_error")
	d := m.dataObject(c.t)
	if m.Channel != channel || d["type"] != wantType {
		c.t.Fatalf("subscription_error for %q: %s, want type %s", channel, m.Data, wantType)
	}
	msg, _ := d["error"].(string)
	return msg
}

func TestSigninThenEventsReachEverySocketOfTheUser(t *testing.T) {
	s := startServer(t, defaultApps)
	tab1, tab2, other := dial(t, s), dial(t, s), dial(t, s)
	ud := `{"id":"42","user_info":{"name":"Ann"}}`
	tab1.signin(ud)
	tab2.signin(ud)
	tab1.subscribe("#server-to-user-42")
	tab2.subscribe("#server-to-user-42")
	other.signin(`{"id":"7"}`)
	other.subscribe("#server-to-user-7")

	trigger(t, s, "#server-to-user-42", "greeting", `{"hi":1}`, "")
	for _, c := range []*client{tab1, tab2} {
		m := c.expect("greeting")
		if m.Channel != "#server-to-user-42" || m.dataString() != `{"hi":1}` {
			t.Fatalf("got %s on %q", m.Data, m.Channel)
		}
	}
	other.expectNothing(300 * time.Millisecond)
}

// Ids from identity providers and e-mail addresses hold characters plain
// channel names may not: the user channel takes them, through the socket
// and through the events API, as pusher-js and the SDKs' sendToUser use it.
func TestSigninWithProviderAndEmailIDsReachesTheUserChannel(t *testing.T) {
	s := startServer(t, defaultApps)
	for _, id := range []string{"auth0|5f7c", "a+b@x.com"} {
		c := dial(t, s)
		ud := `{"id":"` + id + `"}`
		c.signin(ud)
		c.subscribe("#server-to-user-" + id)
		trigger(t, s, "#server-to-user-"+id, "hello", `{"to":"`+id+`"}`, "")
		if m := c.expect("hello"); m.Channel != "#server-to-user-"+id || m.dataString() != `{"to":"`+id+`"}` {
			t.Fatalf("%s got %s on %q", id, m.Data, m.Channel)
		}
		// The SDKs' terminateUserConnections puts the id in the path as is.
		if status, body := api(t, s, "POST", "/apps/"+appID+"/users/"+id+"/terminate_connections", nil, "{}"); status != 200 {
			t.Fatalf("terminate %s: %d %s", id, status, body)
		}
		if code := c.expectClose(); code != 4009 {
			t.Errorf("%s closed with %d, want 4009", id, code)
		}
	}
}

// An id its user channel could not take is refused at sign-in, saying why,
// rather than signing in a socket whose channel then fails.
func TestSigninRefusesAnIDItsUserChannelCannotTake(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	long := `{"id":"` + strings.Repeat("u", 300) + `"}`
	c.signinWith(signinAuth(c.socketID, long), long)
	if typ, msg := c.expectSigninError(); typ != "InvalidUserData" || !strings.Contains(msg, "300 bytes") || !strings.Contains(msg, "1-256 bytes") {
		t.Errorf("over-long id: %s %q", typ, msg)
	}
	ctrl := `{"id":"a\u0001b"}`
	c.signinWith(signinAuth(c.socketID, ctrl), ctrl)
	if typ, msg := c.expectSigninError(); typ != "InvalidUserData" || !strings.Contains(msg, "control characters") {
		t.Errorf("control character: %s %q", typ, msg)
	}
	// The same ids are refused as channels, with the user id's rule.
	if msg := c.subscribeRefused("#server-to-user-"+strings.Repeat("u", 300), "InvalidChannel"); !strings.Contains(msg, "1-256 bytes") {
		t.Errorf("over-long user channel: %q", msg)
	}
	body := `{"name":"e","channel":"#server-to-user-` + strings.Repeat("u", 300) + `","data":"1"}`
	if status, resp := api(t, s, "POST", "/apps/"+appID+"/events", nil, body); status != 422 || !strings.Contains(resp, "1-256 bytes") {
		t.Errorf("over-long user channel in the events API: %d %s", status, resp)
	}
	c.signin(`{"id":"` + strings.Repeat("u", 256) + `"}`)
}

func TestSigninRefusalsLeaveTheSocketUsable(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","max_user_data_size":200,"max_watchlist_size":3}]}`)
	c := dial(t, s)
	ud := `{"id":"1"}`
	cases := []struct {
		name, wantType, wantText string
		send                     func()
	}{
		{"data not an object", "InvalidSignin", "user_data", func() { c.send(`{"event":"pusher:signin","data":"nope"}`) }},
		{"no user_data", "InvalidSignin", "user_data", func() {
			c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{"auth": signinAuth(c.socketID, ud)}})
		}},
		{"forged signature", "AuthError", "signature", func() {
			c.signinWith(appKey+":"+sign("not-the-secret", c.socketID+"::user::"+ud), ud)
		}},
		{"signed for another socket", "AuthError", "signature", func() { c.signinWith(signinAuth("1.2", ud), ud) }},
		{"signed as another user", "AuthError", "signature", func() { c.signinWith(signinAuth(c.socketID, `{"id":"2"}`), ud) }},
		{"wrong key", "AuthError", "signature", func() {
			c.signinWith("key-2:"+sign(appSecret, c.socketID+"::user::"+ud), ud)
		}},
		{"numeric id", "InvalidUserData", "non-empty string \"id\"", func() {
			c.signinWith(signinAuth(c.socketID, `{"id":1}`), `{"id":1}`)
		}},
		{"empty id", "InvalidUserData", "non-empty string \"id\"", func() {
			c.signinWith(signinAuth(c.socketID, `{"id":""}`), `{"id":""}`)
		}},
		{"watchlist not strings", "InvalidUserData", "watchlist", func() {
			w := `{"id":"1","watchlist":[1]}`
			c.signinWith(signinAuth(c.socketID, w), w)
		}},
		{"watchlist too long", "LimitReached", "max_watchlist_size of 3", func() {
			w := `{"id":"1","watchlist":["a","b","c","d"]}`
			c.signinWith(signinAuth(c.socketID, w), w)
		}},
		{"user_data too large", "LimitReached", "max_user_data_size of 200", func() {
			big := `{"id":"1","user_info":{"bio":"` + strings.Repeat("x", 300) + `"}}`
			c.signinWith(signinAuth(c.socketID, big), big)
		}},
	}
	for _, tc := range cases {
		tc.send()
		typ, msg := c.expectSigninError()
		if typ != tc.wantType || !strings.Contains(msg, tc.wantText) {
			t.Errorf("%s: got %s %q, want %s containing %q", tc.name, typ, msg, tc.wantType, tc.wantText)
		}
		c.ping()
	}
	// Not signed in: the user channel is refused.
	if msg := c.subscribeRefused("#server-to-user-1", "AuthError"); !strings.Contains(msg, "Sign in first") {
		t.Errorf("unsigned subscribe: %q", msg)
	}
	c.signin(ud)
	if msg := c.subscribeRefused("#server-to-user-2", "AuthError"); !strings.Contains(msg, `signed in as user "1"`) {
		t.Errorf("other user's channel: %q", msg)
	}
	if msg := c.subscribeRefused("#anything", "InvalidChannel"); !strings.Contains(msg, "#server-to-user-{id}") {
		t.Errorf("other '#' channel: %q", msg)
	}
	c.signinWith(signinAuth(c.socketID, `{"id":"2"}`), `{"id":"2"}`)
	if typ, msg := c.expectSigninError(); typ != "AlreadySignedIn" || !strings.Contains(msg, `"1"`) {
		t.Errorf("second sign-in: %s %q", typ, msg)
	}
	c.subscribe("#server-to-user-1")
	trigger(t, s, "#server-to-user-1", "still", "1", "")
	c.expect("still")
}

func TestTerminateUserConnectionsClosesSignedInAndPresenceSockets(t *testing.T) {
	s := startServer(t, defaultApps)
	tab1, tab2, member, bystander := dial(t, s), dial(t, s), dial(t, s), dial(t, s)
	tab1.signin(`{"id":"u1"}`)
	tab2.signin(`{"id":"u1"}`)
	member.join("presence-room", `{"user_id":"u1"}`)
	bystander.signin(`{"id":"u2"}`)
	if status, body := api(t, s, "POST", "/apps/"+appID+"/users/u1/terminate_connections", nil, "{}"); status != 200 {
		t.Fatalf("terminate: %d %s", status, body)
	}
	for i, c := range []*client{tab1, tab2, member} {
		if code := c.expectClose(); code != 4009 {
			t.Errorf("socket %d closed with %d, want 4009", i, code)
		}
	}
	bystander.ping()
}

func TestUnsignedSocketsAreClosedAfterUserAuthenticationTimeout(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","user_authentication_timeout":1}]}`)
	signed, unsigned := dial(t, s), dial(t, s)
	signed.signin(`{"id":"1"}`)
	code, msg := unsigned.expectError()
	if code != 4009 || !strings.Contains(msg, "not authorized within timeout") {
		t.Fatalf("got %d %q", code, msg)
	}
	if code := unsigned.expectClose(); code != 4009 {
		t.Fatalf("close code %d", code)
	}
	// Both timers have run by now: the signed-in socket stays.
	signed.ping()
}

func TestWatchlistTellsEachTransitionOnce(t *testing.T) {
	s := startServer(t, defaultApps)
	a := dial(t, s)
	a.signin(`{"id":"a"}`)
	w := dial(t, s)
	w.signin(`{"id":"w","watchlist":["a","b"]}`)
	w.expectWatch("online", "a")

	b1, b2 := dial(t, s), dial(t, s)
	b1.signin(`{"id":"b"}`)
	w.expectWatch("online", "b")
	b2.signin(`{"id":"b"}`) // still one user online: nothing
	b1.conn.Close()         // b2 is still signed in: nothing
	b2.conn.Close()
	w.expectWatch("offline", "b")
	a.conn.Close()
	w.expectWatch("offline", "a")
	w.expectNothing(300 * time.Millisecond)

	// Users not on the watchlist are never reported.
	c := dial(t, s)
	c.signin(`{"id":"c"}`)
	w.expectNothing(300 * time.Millisecond)
}

func TestClientEventsFromAllNeedNoSubscription(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","accept_client_events_from":"all"}]}`)
	sub, sender := dial(t, s), dial(t, s)
	sub.subscribe("private-r")
	sender.send(`{"event":"client-x","channel":"private-r","data":{"n":1}}`)
	if m := sub.expect("client-x"); string(m.Data) != `{"n":1}` {
		t.Fatalf("data %s", m.Data)
	}
	// Still only private and presence channels.
	sender.send(`{"event":"client-x","channel":"public","data":{}}`)
	if code, _ := sender.expectError(); code != 4301 {
		t.Fatalf("code %d", code)
	}
}

func TestUnknownAcceptClientEventsFromStopsTheServer(t *testing.T) {
	out := runBinaryExpectFailure(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","accept_client_events_from":"everyone"}]}`)
	if !strings.Contains(out, "accept_client_events_from") || !strings.Contains(out, "members, all or none") {
		t.Fatalf("output: %s", out)
	}
}

// runBinaryExpectFailure starts the server with config and requires that it
// stops at once with status 1; it returns what it printed.
func runBinaryExpectFailure(t *testing.T, config string) string {
	t.Helper()
	cfg := writeTemp(t, "config.json", config)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary_, "start", "--host", "127.0.0.1", "--port", fmt.Sprint(freePort(t)), "--config", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("err %v, want exit status 1; output:\n%s", err, out)
	}
	return string(out)
}

// subscriptionCount reads the count of a pusher_internal:subscription_count.
func subscriptionCount(t *testing.T, m message) int {
	t.Helper()
	var d struct {
		N *int `json:"subscription_count"`
	}
	if m.Event != "pusher_internal:subscription_count" || json.Unmarshal([]byte(m.dataString()), &d) != nil || d.N == nil {
		t.Fatalf("want subscription_count, got %s %s", m.Event, m.Data)
	}
	return *d.N
}

// expectCount reads subscription_count events on channel until one says
// want, and returns how many arrived.
func (c *client) expectCount(channel string, want int) int {
	c.t.Helper()
	for n := 1; ; n++ {
		m := c.expect("pusher_internal:subscription_count", "pusher_internal:subscription_succeeded")
		if m.Channel != channel {
			c.t.Fatalf("subscription_count on %q, want %q", m.Channel, channel)
		}
		if subscriptionCount(c.t, m) == want {
			return n
		}
	}
}

const countingApps = `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","subscription_count_events":true}]}`

func TestSubscriptionCountIsCoalesced(t *testing.T) {
	s := startServer(t, countingApps)
	first := dial(t, s)
	first.subscribe("room")
	if got := first.expectCount("room", 1); got != 1 {
		t.Fatalf("%d events before the count of 1", got)
	}
	// A burst of joins costs one event (two if it straddles a send).
	var others []*client
	for i := 0; i < 8; i++ {
		c := dial(t, s)
		c.subscribe("room")
		others = append(others, c)
	}
	if got := first.expectCount("room", 9); got > 2 {
		t.Fatalf("8 joins cost %d subscription_count events, want at most 2", got)
	}
	others[0].expectCount("room", 9)
	others[0].conn.Close()
	first.expectCount("room", 8)

	// Presence channels have member events instead.
	p := dial(t, s)
	p.join("presence-room", `{"user_id":"1"}`)
	p.subscribe("other")
	if m := p.expect("pusher_internal:subscription_count"); m.Channel != "other" {
		t.Fatalf("subscription_count on %q", m.Channel)
	}
}
