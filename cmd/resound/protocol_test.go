package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestConnectionEstablishedAndPing(t *testing.T) {
	s := startServer(t, defaultApps)
	a, b := dial(t, s), dial(t, s)
	if a.socketID == b.socketID {
		t.Fatalf("two sockets got the same id %s", a.socketID)
	}
	a.ping()
}

func TestUnknownAppKeyIsRefusedWith4001(t *testing.T) {
	s := startServer(t, defaultApps)
	c, head := rawDial(t, s, "/app/nope?protocol=7", "")
	if !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("handshake: %q", head)
	}
	if code, _ := c.expectError(); code != 4001 {
		t.Fatalf("code %d, want 4001", code)
	}
	if code := c.expectClose(); code != 4001 {
		t.Fatalf("close code %d, want 4001", code)
	}
}

func TestOriginNotAllowedIsRefusedWith4009(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*.example.com","good.test"]}]}`)
	for _, origin := range []string{"https://evil.test", ""} {
		extra := ""
		if origin != "" {
			extra = "Origin: " + origin + "\r\n"
		}
		c, _ := rawDial(t, s, "/app/key-1", extra)
		if code, _ := c.expectError(); code != 4009 {
			t.Fatalf("origin %q: code %d, want 4009", origin, code)
		}
		if code := c.expectClose(); code != 4009 {
			t.Fatalf("origin %q: close %d, want 4009", origin, code)
		}
	}
	for _, origin := range []string{"https://app.example.com", "http://good.test:8080"} {
		c := dialKey(t, s, "key-1", "Origin: "+origin+"\r\n")
		c.ping()
	}
}

func TestMaxConnectionsIsRefusedWith4004(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","max_connections":2}]}`)
	a := dial(t, s)
	dial(t, s)
	c, _ := rawDial(t, s, "/app/key-1", "")
	if code, _ := c.expectError(); code != 4004 {
		t.Fatalf("code %d, want 4004", code)
	}
	if code := c.expectClose(); code != 4004 {
		t.Fatalf("close %d, want 4004", code)
	}
	// A slot frees when a socket leaves.
	a.conn.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, _ := rawDial(t, s, "/app/key-1", "")
		m := c.next(3 * time.Second)
		if m.Event == "pusher:connection_established" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %s", m.Data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPublicChannelReceivesAPIEvents(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	m := c.subscribe("news")
	if m.Channel != "news" || m.dataString() != "{}" {
		t.Fatalf("subscription_succeeded: %+v", m)
	}
	trigger(t, s, "news", "App\\Events\\Posted", `{"title":"hi \"there\""}`, "")
	got := c.expect("App\\Events\\Posted")
	if got.Channel != "news" || got.dataString() != `{"title":"hi \"there\""}` {
		t.Fatalf("event: channel %q data %s", got.Channel, got.Data)
	}
	var raw string
	if json.Unmarshal(got.Data, &raw) != nil {
		t.Fatalf("data must be sent as a JSON string, got %s", got.Data)
	}
}

func TestPrivateChannelAuth(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	for _, auth := range []string{"", "key-1:deadbeef", "wrong-key:" + sign(appSecret, c.socketID+":private-x")} {
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "private-x", "auth": auth}})
		m := c.expect("pusher:subscription_error")
		d := m.dataObject(t)
		if m.Channel != "private-x" || d["type"] != "AuthError" || d["status"] != float64(401) || d["error"] == "" {
			t.Fatalf("auth %q: %s", auth, m.Data)
		}
	}
	c.ping() // the socket stays open
	c.subscribe("private-x")
	trigger(t, s, "private-x", "secret", "s3cret", "")
	if got := c.expect("secret"); got.dataString() != "s3cret" {
		t.Fatalf("got %s", got.Data)
	}
}

func TestInvalidChannelNameIsRefused(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	for _, name := range []string{"", "has space", strings.Repeat("a", 165), "bad#"} {
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": name}})
		m := c.expect("pusher:subscription_error")
		if d := m.dataObject(t); d["status"] != float64(400) {
			t.Fatalf("channel %q: %s", name, m.Data)
		}
	}
	c.ping()
}

func TestPresenceMembers(t *testing.T) {
	s := startServer(t, defaultApps)
	ch := "presence-room"
	alice1 := dial(t, s)
	m := alice1.join(ch, `{"user_id":"alice","user_info":{"name":"Alice"}}`)
	p := m.dataObject(t)["presence"].(map[string]any)
	if p["count"] != float64(1) || len(p["ids"].([]any)) != 1 {
		t.Fatalf("first member: %v", p)
	}
	alice1.expectNothing(200 * time.Millisecond) // never member_added to itself

	bob := dial(t, s)
	m = bob.join(ch, `{"user_id":2,"user_info":{"name":"Bob"}}`)
	p = m.dataObject(t)["presence"].(map[string]any)
	hash := p["hash"].(map[string]any)
	if p["count"] != float64(2) || hash["alice"].(map[string]any)["name"] != "Alice" || hash["2"].(map[string]any)["name"] != "Bob" {
		t.Fatalf("presence data: %s", m.Data)
	}
	added := alice1.expect("pusher_internal:member_added")
	if d := added.dataObject(t); d["user_id"] != float64(2) || d["user_info"].(map[string]any)["name"] != "Bob" {
		t.Fatalf("member_added: %s", added.Data)
	}

	// Alice's second tab: one member, no member_added to anyone.
	alice2 := dial(t, s)
	m = alice2.join(ch, `{"user_id":"alice","user_info":{"name":"Alice"}}`)
	if p := m.dataObject(t)["presence"].(map[string]any); p["count"] != float64(2) {
		t.Fatalf("second tab counted twice: %v", p)
	}
	bob.expectNothing(200 * time.Millisecond)
	alice1.expectNothing(50 * time.Millisecond)

	status, body := api(t, s, "GET", "/apps/app-1/channels/"+ch+"/users", nil, "")
	if status != 200 || body != `{"users":[{"id":"2"},{"id":"alice"}]}` {
		t.Fatalf("users: %d %s", status, body)
	}

	// One tab closes: Alice is still here.
	alice1.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": ch}})
	alice1.expectNothing(100 * time.Millisecond) // unsubscribe has no reply
	bob.expectNothing(200 * time.Millisecond)
	// The last tab disconnects: member_removed once.
	alice2.conn.Close()
	removed := bob.expect("pusher_internal:member_removed")
	if d := removed.dataObject(t); d["user_id"] != "alice" {
		t.Fatalf("member_removed: %s", removed.Data)
	}
	bob.expectNothing(200 * time.Millisecond)
}

func TestPresenceNeedsChannelData(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	for _, cd := range []string{"", "not json", `{"user_info":{}}`, `{"user_id":""}`, `{"user_id":{"a":1}}`} {
		c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "presence-x", "auth": c.auth("presence-x", cd), "channel_data": cd}})
		m := c.expect("pusher:subscription_error")
		if d := m.dataObject(t); d["status"] != float64(401) {
			t.Fatalf("channel_data %q: %s", cd, m.Data)
		}
	}
	c.ping()
}

func TestCacheChannels(t *testing.T) {
	s := startServer(t, defaultApps)
	a := dial(t, s)
	a.subscribe("cache-prices")
	a.expect("pusher:cache_miss")
	// Published while nobody is subscribed: kept all the same.
	trigger(t, s, "cache-empty", "tick", "1", "")
	trigger(t, s, "cache-prices", "tick", "41", "")
	trigger(t, s, "cache-prices", "tick", "42", "")
	a.expect("tick")
	a.expect("tick")
	b := dial(t, s)
	b.subscribe("cache-prices")
	if got := b.expect("tick"); got.dataString() != "42" || got.Channel != "cache-prices" {
		t.Fatalf("replay: %s", got.Data)
	}
	c := dial(t, s)
	c.subscribe("cache-empty")
	if got := c.expect("tick"); got.dataString() != "1" {
		t.Fatalf("replay of an event sent to an empty channel: %s", got.Data)
	}
	d := dial(t, s)
	d.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "private-cache-x", "auth": d.auth("private-cache-x", "")}})
	d.expect("pusher_internal:subscription_succeeded")
	d.expect("pusher:cache_miss")
}

func TestClientEvents(t *testing.T) {
	s := startServer(t, defaultApps)
	ch := "presence-chat"
	a, b := dial(t, s), dial(t, s)
	a.join(ch, `{"user_id":"a"}`)
	b.join(ch, `{"user_id":"b"}`)
	a.expect("pusher_internal:member_added")

	a.send(`{"event":"client-typing","channel":"presence-chat","data":{"typing":true}}`)
	got := b.expect("client-typing")
	if string(got.Data) != `{"typing":true}` || string(got.UserID) != `"a"` {
		t.Fatalf("whisper: data %s user_id %s", got.Data, got.UserID)
	}
	a.expectNothing(200 * time.Millisecond) // never echoed

	cases := []struct{ name, msg, want string }{
		{"public channel", `{"event":"client-x","channel":"news","data":{}}`, "private and presence"},
		{"not subscribed", `{"event":"client-x","channel":"private-other","data":{}}`, "subscribe to"},
		{"encrypted", `{"event":"client-x","channel":"private-encrypted-x","data":{}}`, "encrypted"},
	}
	for _, tc := range cases {
		a.send(tc.msg)
		code, msg := a.expectError()
		if code != 4301 || !strings.Contains(msg, tc.want) {
			t.Fatalf("%s: %d %q", tc.name, code, msg)
		}
	}
	b.expectNothing(200 * time.Millisecond)
}

func TestClientEventRateLimit(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","client_events_per_second":3}]}`)
	a, b := dial(t, s), dial(t, s)
	a.subscribe("private-r")
	b.subscribe("private-r")
	// Start at the beginning of a second so all five land in one window.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	for i := 0; i < 5; i++ {
		a.send(`{"event":"client-x","channel":"private-r","data":{}}`)
	}
	for i := 0; i < 2; i++ {
		if code, msg := a.expectError(); code != 4301 || !strings.Contains(msg, "rate limit") {
			t.Fatalf("%d %q", code, msg)
		}
	}
	for i := 0; i < 3; i++ {
		b.expect("client-x")
	}
	b.expectNothing(200 * time.Millisecond)
}

func TestClientEventsDisabled(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","accept_client_events_from":"none"}]}`)
	a := dial(t, s)
	a.subscribe("private-r")
	a.send(`{"event":"client-x","channel":"private-r","data":{}}`)
	if code, _ := a.expectError(); code != 4301 {
		t.Fatalf("code %d", code)
	}
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	c.subscribe("news")
	c.send(`{"event":"pusher:unsubscribe","data":{"channel":"news"}}`)
	c.ping() // the unsubscribe is processed before the ping, and has no reply
	trigger(t, s, "news", "x", "1", "")
	c.expectNothing(300 * time.Millisecond)
}

func TestSocketIDExcludesSender(t *testing.T) {
	s := startServer(t, defaultApps)
	a, b := dial(t, s), dial(t, s)
	a.subscribe("news")
	b.subscribe("news")
	trigger(t, s, "news", "x", "1", a.socketID)
	b.expect("x")
	a.expectNothing(300 * time.Millisecond)
	trigger(t, s, "news", "y", "2", "123.456") // unknown socket_id: ignored
	a.expect("y")
	b.expect("y")
}

func TestMalformedMessagesGetErrorsAndSocketStays(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	for _, bad := range []string{
		`not json`, `[1,2]`, `{"event":5}`, `{"data":{}}`, `{"event":"pusher:subscribe","data":"nope"}`,
		`{"event":"pusher:subscribe","data":{"channel":7}}`, `{"event":"pusher:bogus","data":{}}`,
		`{"event":"hello","data":{}}`, `{"event":"pusher:subscribe"}`,
	} {
		c.send(bad)
		code, msg := c.expectError()
		if code == 0 || msg == "" {
			t.Fatalf("%s: code %d message %q", bad, code, msg)
		}
	}
	c.ping()
}

func TestServerPingsIdleSocketsAndCloses4201(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","ping_interval":1}]}`)
	// Not subscribed to anything: it is pinged and pruned all the same.
	c := dial(t, s)
	c.expect("pusher:ping")
	code, _ := c.expectError()
	if code != 4201 {
		t.Fatalf("code %d, want 4201", code)
	}
	if cc := c.expectClose(); cc != 4201 {
		t.Fatalf("close %d", cc)
	}
	// A socket that answers stays.
	d := dial(t, s)
	for i := 0; i < 3; i++ {
		d.expect("pusher:ping")
		d.send(`{"event":"pusher:pong","data":{}}`)
	}
	d.ping()
}

func TestControlFramePingers(t *testing.T) {
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","ping_interval":1}]}`)
	c := dial(t, s)
	c.writeFrame(0x9, true, []byte("hello"))
	f, err := c.readFrame(2 * time.Second)
	if err != nil || f.op != 0xA || string(f.payload) != "hello" {
		t.Fatalf("pong: %v %d %q", err, f.op, f.payload)
	}
	// It pings with control frames, so we are pinged with one.
	f, err = c.readFrame(3 * time.Second)
	if err != nil || f.op != 0x9 {
		t.Fatalf("expected a ping frame: %v %d %q", err, f.op, f.payload)
	}
	c.writeFrame(0xA, true, nil)
	c.ping()
}

func TestShutdownSends4200(t *testing.T) {
	s := startServer(t, defaultApps)
	c := dial(t, s)
	c.subscribe("news")
	s.stop()
	code, _ := c.expectError()
	if code != 4200 {
		t.Fatalf("code %d", code)
	}
	if cc := c.expectClose(); cc != 4200 {
		t.Fatalf("close %d", cc)
	}
}

func TestWhispersAreNotCached(t *testing.T) {
	s := startServer(t, defaultApps)
	a := dial(t, s)
	a.subscribe("private-cache-w")
	a.expect("pusher:cache_miss")
	a.send(`{"event":"client-typing","channel":"private-cache-w","data":{}}`)
	a.ping()
	b := dial(t, s)
	b.subscribe("private-cache-w")
	b.expect("pusher:cache_miss") // a whisper is not the channel's last event
}
