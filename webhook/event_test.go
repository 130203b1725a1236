package webhook

import (
	"testing"

	json "github.com/goccy/go-json"
)

func TestSignIsHexHMACSHA256OfTheBody(t *testing.T) {
	// Known answer computed independently (Python's hmac module).
	got := Sign("secret", []byte(`{"time_ms":1,"events":[]}`))
	if want := "7f7f57446968d787e73e1325b85147edc7991af069e8fffdc6a4e6fcc288693c"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestBodyHasPushersShapes(t *testing.T) {
	body := AppendBody(nil, 1700000000123, []Event{
		{App: "a", Name: ChannelOccupied, Channel: "presence-room"},
		{App: "a", Name: MemberAdded, Channel: "presence-room", UserID: "7"},
		{App: "a", Name: ClientEvent, Channel: "presence-room", Event: "client-typing", Data: `{"x":"<1>"}`, SocketID: "1.2", UserID: "7"},
		{App: "a", Name: ClientEvent, Channel: "private-x", Event: "client-a", Data: "hi", SocketID: "3.4"},
		{App: "a", Name: CacheMiss, Channel: "cache-x"},
		{App: "a", Name: SubscriptionCount, Channel: "x", Count: 3},
	})
	var got struct {
		TimeMs int64            `json:"time_ms"`
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s is not JSON: %v", body, err)
	}
	if got.TimeMs != 1700000000123 || len(got.Events) != 6 {
		t.Fatalf("body %s", body)
	}
	want := []map[string]any{
		{"name": "channel_occupied", "channel": "presence-room"},
		{"name": "member_added", "channel": "presence-room", "user_id": "7"},
		{"name": "client_event", "channel": "presence-room", "event": "client-typing", "data": `{"x":"<1>"}`, "socket_id": "1.2", "user_id": "7"},
		{"name": "client_event", "channel": "private-x", "event": "client-a", "data": "hi", "socket_id": "3.4"},
		{"name": "cache_miss", "channel": "cache-x"},
		{"name": "subscription_count", "channel": "x", "subscription_count": float64(3)},
	}
	for i := range want {
		if len(got.Events[i]) != len(want[i]) {
			t.Fatalf("event %d: %v, want %v", i, got.Events[i], want[i])
		}
		for k, v := range want[i] {
			if got.Events[i][k] != v {
				t.Fatalf("event %d field %s: %v, want %v", i, k, got.Events[i][k], v)
			}
		}
	}
}

func TestClientEventDataIsAString(t *testing.T) {
	if s := DataString([]byte(`"already a string"`)); s != "already a string" {
		t.Fatalf("string data became %q", s)
	}
	if s := DataString([]byte(`{"a":1}`)); s != `{"a":1}` {
		t.Fatalf("object data became %q", s)
	}
}

func TestFilterAndEventTypes(t *testing.T) {
	h := Config{URL: "http://x/", EventTypes: []string{MemberAdded, ChannelVacated},
		Filter: Filter{ChannelNameStartsWith: "presence-", ChannelNameEndsWith: "-room"}}
	cases := []struct {
		ev   Event
		want bool
	}{
		{Event{Name: MemberAdded, Channel: "presence-a-room"}, true},
		{Event{Name: ChannelVacated, Channel: "presence-room"}, true},
		{Event{Name: MemberAdded, Channel: "private-a-room"}, false},
		{Event{Name: MemberAdded, Channel: "presence-a-lobby"}, false},
		{Event{Name: MemberRemoved, Channel: "presence-a-room"}, false},
	}
	for _, c := range cases {
		if got := h.Matches(c.ev); got != c.want {
			t.Errorf("%s on %s: matches %v, want %v", c.ev.Name, c.ev.Channel, got, c.want)
		}
	}
	m := Wanted([]Config{h, {EventTypes: []string{ClientEvent}}})
	if !m.Has(MemberAdded) || !m.Has(ClientEvent) || m.Has(MemberRemoved) || m.Has(CacheMiss) {
		t.Fatalf("wanted mask %08b", m)
	}
}

func TestValidateExplains(t *testing.T) {
	bad := []Config{
		{URL: "example.com/hook", EventTypes: []string{MemberAdded}},
		{URL: "ftp://example.com/", EventTypes: []string{MemberAdded}},
		{URL: "http://example.com/", EventTypes: nil},
		{URL: "http://example.com/", EventTypes: []string{"member_joined"}},
		{URL: "http://example.com/", EventTypes: []string{MemberAdded}, Headers: map[string]string{"Bad Header": "x"}},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	ok := Config{URL: "https://example.com/hook", EventTypes: []string{ChannelOccupied, CacheMiss}, Headers: map[string]string{"Authorization": "Bearer x"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}
