package hub

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/resound/resound/protocol"
)

func publish(t *testing.T, a *App, channel, data string) {
	t.Helper()
	if err := a.Publish(context.Background(), []Event{{Name: "news", Data: data, Channels: []string{channel}}}); err != nil {
		t.Fatal(err)
	}
}

func TestLimitDefaults(t *testing.T) {
	c := AppConfig{}.WithDefaults()
	if c.MaxChannelsPerConnection != 1000 || c.MaxPresenceMembersPerChannel != 100 || c.MaxPresenceMemberSize != 1024 {
		t.Fatalf("defaults: channels %d, members %d, member size %d", c.MaxChannelsPerConnection, c.MaxPresenceMembersPerChannel, c.MaxPresenceMemberSize)
	}
	c = AppConfig{MaxChannelsPerConnection: -5, MaxPresenceMembersPerChannel: -1, MaxPresenceMemberSize: 7}.WithDefaults()
	if c.MaxChannelsPerConnection != NoLimit || c.MaxPresenceMembersPerChannel != NoLimit || c.MaxPresenceMemberSize != 7 {
		t.Fatalf("negative must lift the limit and a set value must stay: %+v", c)
	}
}

func TestMaxChannelsPerConnectionRefusesAndKeepsTheSocket(t *testing.T) {
	h, a := newTestHub(t, AppConfig{MaxChannelsPerConnection: 3})
	s, out := openSocket(t, h, a)
	for i := 0; i < 3; i++ {
		s.Handle(subscribeMsg("c" + strconv.Itoa(i)))
		if m := out.last(t); m.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscription %d: %s %s", i, m.Event, m.Data)
		}
	}
	s.Handle(subscribeMsg("c3"))
	m := out.last(t)
	typ, msg, status := subscriptionError(t, m)
	if m.Channel != "c3" || typ != "LimitReached" || status != 403 || !strings.Contains(msg, "max_channels_per_connection") || !strings.Contains(msg, "3") {
		t.Fatalf("refusal: channel %q type %q status %d message %q", m.Channel, typ, status, msg)
	}
	if out.kicked || s.closed {
		t.Fatal("the socket must stay open")
	}
	// A repeated subscribe at the limit is confirmed, not refused.
	s.Handle(subscribeMsg("c1"))
	if m := out.last(t); m.Event != "pusher_internal:subscription_succeeded" || m.Channel != "c1" {
		t.Fatalf("repeated subscribe: %s %s", m.Event, m.Data)
	}
	out.reset()
	publish(t, a, "c0", "still here")
	if m := out.last(t); m.Event != "news" || m.Channel != "c0" {
		t.Fatalf("the other subscriptions must keep receiving: %+v", m)
	}
	publish(t, a, "c3", "not subscribed")
	if n := len(out.frames); n != 1 {
		t.Fatalf("the refused channel delivered: %v", out.events(t))
	}
	s.Handle(unsubscribeMsg("c0"))
	s.Handle(subscribeMsg("c3"))
	if m := out.last(t); m.Event != "pusher_internal:subscription_succeeded" || m.Channel != "c3" {
		t.Fatalf("after an unsubscribe there is room again: %s %s", m.Event, m.Data)
	}
}

func TestMaxChannelsPerConnectionLifted(t *testing.T) {
	h, a := newTestHub(t, AppConfig{MaxChannelsPerConnection: NoLimit})
	s, out := openSocket(t, h, a)
	for i := 0; i < 1500; i++ {
		s.Handle(subscribeMsg("c" + strconv.Itoa(i)))
	}
	for _, f := range out.frames {
		if m := decodeWire(t, f); m.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("no limit, yet: %s %s", m.Event, m.Data)
		}
	}
	if int(s.nsubs) != 1500 {
		t.Fatalf("%d subscriptions, want 1500", int(s.nsubs))
	}
}

// checkIndex verifies that every subscription is found by name and by
// channel, and that names not subscribed are not.
func checkIndex(t *testing.T, s *Session, want map[string]bool, gone []string) {
	t.Helper()
	if int(s.nsubs) != len(want) {
		t.Fatalf("%d subscriptions, want %d", int(s.nsubs), len(want))
	}
	for name := range want {
		i := s.subIndex(name)
		if i < 0 || s.subList()[i].ch.name != name {
			t.Fatalf("subIndex(%q) = %d", name, i)
		}
		if sub := s.subOn(s.subList()[i].ch); sub == nil || sub.ch.name != name {
			t.Fatalf("subOn(%q) = %v", name, sub)
		}
	}
	for _, name := range gone {
		if i := s.subIndex(name); i >= 0 {
			t.Fatalf("%q was unsubscribed but is found at %d", name, i)
		}
	}
}

func TestSubscriptionIndexFollowsSubscribeAndUnsubscribe(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	s, _ := openSocket(t, h, a)
	s.Handle(subscribeMsg("a"))
	s.Handle(subscribeMsg("b"))
	if s.subsByName() != nil || int(s.subsCap) > 2 {
		t.Fatalf("a socket with two channels must stay small: index %v, capacity %d", s.subsByName() != nil, int(s.subsCap))
	}
	want := map[string]bool{"a": true, "b": true}
	var gone []string
	for i := 0; i < 40; i++ {
		name := "c" + strconv.Itoa(i)
		s.Handle(subscribeMsg(name))
		want[name] = true
	}
	if s.subsByName() == nil {
		t.Fatal("a socket with 42 channels must have an index")
	}
	checkIndex(t, s, want, nil)
	// Unsubscribe in an order that moves entries from the end into gaps.
	for i := 0; i < 40; i += 3 {
		name := "c" + strconv.Itoa(i)
		s.Handle(unsubscribeMsg(name))
		delete(want, name)
		gone = append(gone, name)
		checkIndex(t, s, want, gone)
	}
	for name := range want {
		s.Handle(unsubscribeMsg(name))
		delete(want, name)
		gone = append(gone, name)
		checkIndex(t, s, want, gone)
	}
	if s.subsByName() != nil || int(s.subsCap) > 2*linearSubs {
		t.Fatalf("an emptied socket must give its memory back: index %v, capacity %d", s.subsByName() != nil, int(s.subsCap))
	}
	for _, name := range []string{"x", "y"} {
		s.Handle(subscribeMsg(name))
		want[name] = true
	}
	checkIndex(t, s, want, gone)
}

func TestIndexedSocketStillFiltersCacheAndPresenceTraffic(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	s, out := openSocket(t, h, a)
	for i := 0; i < 3*linearSubs; i++ {
		s.Handle(subscribeMsg("cache-c" + strconv.Itoa(i)))
		// succeeded, then cache_miss from a cache reader: wait for it so
		// the socket is touched by one goroutine at a time.
		out.waitFrames(t, 2*(i+1))
	}
	out.reset()
	publish(t, a, "cache-c5", "once")
	if got := out.events(t); len(got) != 1 || got[0] != "news" {
		t.Fatalf("want the event once, got %v", got)
	}
	// A new subscriber gets the cached event by replay and not again.
	other, out2 := openSocket(t, h, a)
	for i := 0; i < 3*linearSubs; i++ {
		other.Handle(subscribeMsg("pad" + strconv.Itoa(i)))
	}
	out2.reset()
	other.Handle(subscribeMsg("cache-c5"))
	if got := out2.events(t); len(got) != 2 || got[1] != "news" {
		t.Fatalf("want succeeded then the replay, got %v", got)
	}
}

func TestPresenceMemberCountLimit(t *testing.T) {
	h, a := newTestHub(t, AppConfig{MaxPresenceMembersPerChannel: 2})
	const room = "presence-room"
	s1, out1 := openSocket(t, h, a)
	s1.Handle(presenceSubscribeMsg(s1, room, 1, `{}`))
	s2, _ := openSocket(t, h, a)
	s2.Handle(presenceSubscribeMsg(s2, room, 2, `{}`))
	s3, out3 := openSocket(t, h, a)
	s3.Handle(subscribeMsg("elsewhere"))
	out1.reset()
	out3.reset()
	s3.Handle(presenceSubscribeMsg(s3, room, 3, `{}`))
	m := out3.last(t)
	typ, msg, status := subscriptionError(t, m)
	if m.Channel != room || typ != "LimitReached" || status != 403 || !strings.Contains(msg, "max_presence_members_per_channel") || !strings.Contains(msg, "2") {
		t.Fatalf("refusal: channel %q type %q status %d message %q", m.Channel, typ, status, msg)
	}
	if len(out1.frames) != 0 {
		t.Fatalf("members heard about a refused joiner: %v", out1.events(t))
	}
	if ids, _ := a.Users(context.Background(), room); len(ids) != 2 {
		t.Fatalf("users %v", ids)
	}
	if ci, _ := a.Channel(context.Background(), room); ci.SubscriptionCount != 2 {
		t.Fatalf("the refused socket is counted as a subscriber: %+v", ci)
	}
	out3.reset()
	publish(t, a, "elsewhere", "x")
	if got := out3.events(t); len(got) != 1 || got[0] != "news" || out3.kicked {
		t.Fatalf("the refused socket must stay and keep its channels: %v", got)
	}
	// Another socket of a present user does not count as a new member.
	s1b, out1b := openSocket(t, h, a)
	s1b.Handle(presenceSubscribeMsg(s1b, room, 1, `{}`))
	if m := out1b.last(t); m.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("second tab of a member: %s %s", m.Event, m.Data)
	}
	s2.Close()
	out3.reset()
	s3.Handle(presenceSubscribeMsg(s3, room, 3, `{}`))
	if m := out3.last(t); m.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("after a member left there is room: %s %s", m.Event, m.Data)
	}
}

func TestPresenceMemberSizeLimit(t *testing.T) {
	h, a := newTestHub(t, AppConfig{MaxPresenceMemberSize: 20})
	s, out := openSocket(t, h, a)
	fits := `{"name":"0123456789"}` // 21 bytes
	s.Handle(presenceSubscribeMsg(s, "presence-a", 1, fits))
	m := out.last(t)
	typ, msg, status := subscriptionError(t, m)
	if typ != "LimitReached" || status != 413 || !strings.Contains(msg, "max_presence_member_size") || !strings.Contains(msg, "21 bytes") {
		t.Fatalf("refusal: type %q status %d message %q", typ, status, msg)
	}
	if ci, _ := a.Channel(context.Background(), "presence-a"); ci.Occupied {
		t.Fatalf("a refused member occupies the channel: %+v", ci)
	}
	s.Handle(presenceSubscribeMsg(s, "presence-a", 1, `{"name":"012345678"}`)) // 20 bytes
	if m := out.last(t); m.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("user_info at the limit: %s %s", m.Event, m.Data)
	}
}

type presenceList struct {
	Presence struct {
		Count int                        `json:"count"`
		IDs   []json.RawMessage          `json:"ids"`
		Hash  map[string]json.RawMessage `json:"hash"`
	} `json:"presence"`
}

func decodePresence(t *testing.T, frame []byte) presenceList {
	t.Helper()
	m := decodeWire(t, frame)
	if m.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("%s %s", m.Event, m.Data)
	}
	var p presenceList
	if err := json.Unmarshal([]byte(m.Data), &p); err != nil {
		t.Fatalf("member list %q: %v", m.Data, err)
	}
	return p
}

func TestPresenceListIsEncodedOncePerChange(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	const room = "presence-room"
	// Only a list of cachedListMin members or more is kept between joiners.
	const others = cachedListMin
	for i := range others {
		s, _ := openSocket(t, h, a)
		s.Handle(presenceSubscribeMsg(s, room, 100+i, `{}`))
	}
	s1, _ := openSocket(t, h, a)
	s1.Handle(presenceSubscribeMsg(s1, room, 1, `{"n":1}`))
	ch := s1.subList()[0].ch
	f1, v1 := ch.presenceSucceeded(h.opts.Frame)
	f2, v2 := ch.presenceSucceeded(h.opts.Frame)
	if &f1[0] != &f2[0] || v1 != v2 {
		t.Fatal("without a change the member list must not be encoded again")
	}
	// Another socket of the same user is no change either.
	s1b, out1b := openSocket(t, h, a)
	s1b.Handle(presenceSubscribeMsg(s1b, room, 1, `{"n":1}`))
	if f, _ := ch.presenceSucceeded(h.opts.Frame); &f[0] != &f1[0] {
		t.Fatal("a second tab of a member re-encoded the list")
	}
	if p := decodePresence(t, out1b.frames[len(out1b.frames)-1]); p.Presence.Count != others+1 {
		t.Fatalf("%+v", p)
	}
	s2, out2 := openSocket(t, h, a)
	s2.Handle(presenceSubscribeMsg(s2, room, 2, `{"n":2}`))
	p := decodePresence(t, out2.frames[len(out2.frames)-1])
	if p.Presence.Count != others+2 || len(p.Presence.IDs) != others+2 || string(p.Presence.Hash["2"]) != `{"n":2}` {
		t.Fatalf("a join must be in the next list: %+v", p)
	}
	s1.Close()
	s1b.Close()
	// Another tab of user 2 changes nothing, so only the leave can have
	// dropped the cached list.
	s2b, out2b := openSocket(t, h, a)
	s2b.Handle(presenceSubscribeMsg(s2b, room, 2, `{"n":2}`))
	p = decodePresence(t, out2b.frames[len(out2b.frames)-1])
	if p.Presence.Count != others+1 || p.Presence.Hash["1"] != nil {
		t.Fatalf("a leave must be out of the next list: %+v", p)
	}
	s3, out3 := openSocket(t, h, a)
	s3.Handle(presenceSubscribeMsg(s3, room, 3, `{"n":3}`))
	p = decodePresence(t, out3.frames[len(out3.frames)-1])
	if p.Presence.Count != others+2 || p.Presence.Hash["1"] != nil || p.Presence.Hash["2"] == nil || p.Presence.Hash["3"] == nil {
		t.Fatalf("a leave must be out of the next list: %+v", p)
	}
}

// A short member list is encoded for each joiner and not kept: the
// channel holds no copy of it between joins.
func TestShortPresenceListIsNotKept(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	const room = "presence-room"
	for i := range cachedListMin - 1 {
		s, out := openSocket(t, h, a)
		s.Handle(presenceSubscribeMsg(s, room, i, `{}`))
		if p := decodePresence(t, out.frames[len(out.frames)-1]); p.Presence.Count != i+1 {
			t.Fatalf("joiner %d got %+v", i, p)
		}
	}
	ch := a.channels.get(room)
	if f, _ := ch.presenceSucceeded(h.opts.Frame); len(f) == 0 || ch.cachedSucceeded() != nil {
		t.Fatalf("a list of %d members is kept", cachedListMin-1)
	}
	s, _ := openSocket(t, h, a)
	s.Handle(presenceSubscribeMsg(s, room, cachedListMin, `{}`))
	if f, _ := ch.presenceSucceeded(h.opts.Frame); ch.cachedSucceeded() == nil || &f[0] != &ch.cachedSucceeded()[0] {
		t.Fatalf("a list of %d members is not kept", cachedListMin)
	}
}

func TestPresenceListEncodingMatchesTheEncoder(t *testing.T) {
	h, a := newTestHub(t, AppConfig{})
	const room = "presence-room"
	datas := []string{
		`{"user_id":"a\"quote","user_info":{"name":"line\nbreak","u":"\u2028 ü 😀","t":"<b>&"}}`,
		`{"user_id":42}`,
		`{"user_id":"back\\slash","user_info":[1,"two",null]}`,
	}
	for _, d := range datas {
		s, out := openSocket(t, h, a)
		s.Handle(presenceSubscribeData(s, room, d))
		if m := out.last(t); m.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("%s: %s %s", d, m.Event, m.Data)
		}
	}
	a.mu.RLock()
	ch := a.channels.get(room)
	a.mu.RUnlock()
	got, _ := ch.presenceSucceeded(h.opts.Frame)
	// Nobody left, so the list is in the order of the joins.
	var list []protocol.Member
	for _, d := range datas {
		m, err := protocol.DecodeMember(d)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, m)
	}
	want := protocol.PresenceSucceeded(room, encodePresence(list))
	if string(got) != string(want) {
		t.Fatalf("member list\n got %s\nwant %s", got, want)
	}
}
