package main

import (
	"strings"
	"testing"
)

// limitsApp is the default app with small per-app limits, so a test reaches
// each one with a handful of messages.
const limitsApp = `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"],` +
	`"max_channels_per_connection":3,"max_presence_members_per_channel":2,"max_presence_member_size":32}]}`

// expectLimitRefusal reads the pusher:subscription_error for channel and
// checks that it names the limit.
func (c *client) expectLimitRefusal(channel, limit string, status int) {
	c.t.Helper()
	m := c.expect("pusher:subscription_error")
	d := m.dataObject(c.t)
	msg, _ := d["error"].(string)
	if m.Channel != channel || d["type"] != "LimitReached" || d["status"] != float64(status) || !strings.Contains(msg, limit) {
		c.t.Fatalf("refusal of %s: want LimitReached %d naming %s, got %s", channel, status, limit, m.Data)
	}
}

// expectEventOn waits for event on channel; anything else first is a failure,
// so an event on a channel the socket was refused would be caught.
func (c *client) expectEventOn(channel, event string) {
	c.t.Helper()
	m := c.expect(event)
	if m.Channel != channel {
		c.t.Fatalf("%s arrived on %q, want %q", event, m.Channel, channel)
	}
}

func TestOverChannelLimitIsRefusedAndTheSocketKeepsItsChannels(t *testing.T) {
	s := startServer(t, limitsApp)
	c := dial(t, s)
	for _, ch := range []string{"a", "private-b", "cache-c"} {
		c.subscribe(ch)
	}
	c.expect("pusher:cache_miss")
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "d"}})
	c.expectLimitRefusal("d", "max_channels_per_connection", 403)
	c.ping()
	trigger(t, s, "d", "refused", "x", "")
	for _, ch := range []string{"a", "private-b", "cache-c"} {
		trigger(t, s, ch, "still-here", "y", "")
		c.expectEventOn(ch, "still-here")
	}
	// Room again after an unsubscribe.
	c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "a"}})
	c.subscribe("d")
	trigger(t, s, "d", "now-in", "z", "")
	c.expectEventOn("d", "now-in")
}

func TestPresenceOverMemberCountIsRefused(t *testing.T) {
	s := startServer(t, limitsApp)
	const room = "presence-room"
	alice := dial(t, s)
	alice.join(room, `{"user_id":"alice"}`)
	bob := dial(t, s)
	bob.join(room, `{"user_id":"bob"}`)
	alice.expect("pusher_internal:member_added")

	carol := dial(t, s)
	carol.subscribe("lobby")
	data := `{"user_id":"carol"}`
	carol.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": room, "auth": carol.auth(room, data), "channel_data": data}})
	carol.expectLimitRefusal(room, "max_presence_members_per_channel", 403)
	trigger(t, s, "lobby", "hello", "x", "")
	carol.expectEventOn("lobby", "hello")

	// Members never heard of carol: the next thing they get is this event.
	trigger(t, s, room, "after", "y", "")
	alice.expectEventOn(room, "after")
	bob.expectEventOn(room, "after")
	status, body := api(t, s, "GET", "/apps/app-1/channels/"+room+"/users", nil, "")
	if status != 200 || body != `{"users":[{"id":"alice"},{"id":"bob"}]}` {
		t.Fatalf("users: %d %s", status, body)
	}

	// A second tab of a member is not a new member.
	bob2 := dial(t, s)
	bob2.join(room, `{"user_id":"bob"}`)
	// When someone leaves, carol fits.
	alice.conn.Close()
	bob.expect("pusher_internal:member_removed")
	m := carol.join(room, data)
	if p := m.dataObject(t)["presence"].(map[string]any); p["count"] != float64(2) {
		t.Fatalf("member list: %s", m.Data)
	}
}

func TestPresenceOverMemberSizeIsRefused(t *testing.T) {
	s := startServer(t, limitsApp)
	const room = "presence-big"
	c := dial(t, s)
	c.subscribe("lobby")
	data := `{"user_id":1,"user_info":{"name":"` + strings.Repeat("x", 30) + `"}}` // user_info 41 bytes
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": room, "auth": c.auth(room, data), "channel_data": data}})
	c.expectLimitRefusal(room, "max_presence_member_size", 413)
	trigger(t, s, "lobby", "hello", "x", "")
	c.expectEventOn("lobby", "hello")
	// The limit is on user_info alone: 32 bytes of it fit.
	c.join(room, `{"user_id":1,"user_info":{"name":"`+strings.Repeat("x", 21)+`"}}`)
}
