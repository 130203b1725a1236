package protocol

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Vectors from Pusher's documentation.
func TestChannelAuthMatchesPusherDocs(t *testing.T) {
	key, secret := "278d425bdf160c739803", "7ad3773142a6692b25b8"
	want := "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
	if got := SignChannel(secret, "1234.1234", "private-foobar", ""); got != want {
		t.Fatalf("got %s", got)
	}
	if !VerifyChannelAuth(key, secret, "1234.1234", "private-foobar", "", key+":"+want) {
		t.Fatal("valid auth refused")
	}
	for _, bad := range []string{want, "other:" + want, key + ":" + strings.ToUpper(want[:2]) + want[3:], key + ":"} {
		if VerifyChannelAuth(key, secret, "1234.1234", "private-foobar", "", bad) {
			t.Fatalf("accepted %q", bad)
		}
	}
}

func TestRequestSignatureMatchesPusherDocs(t *testing.T) {
	body := `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	if got := BodyMD5([]byte(body)); got != "ec365a775a4cd0599faeb73354201b6f" {
		t.Fatalf("body_md5 %s", got)
	}
	params := []QueryParam{
		{"auth_key", "278d425bdf160c739803"}, {"auth_timestamp", "1353088179"},
		{"auth_version", "1.0"}, {"body_md5", "ec365a775a4cd0599faeb73354201b6f"},
		{"auth_signature", "ignored"},
	}
	want := "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	if got := SignRequest("7ad3773142a6692b25b8", "POST", "/apps/3/events", params); got != want {
		t.Fatalf("signature %s", got)
	}
	if !VerifySignature("7ad3773142a6692b25b8", "POST", "/apps/3/events", params, want) {
		t.Fatal("valid signature refused")
	}
}

func TestKindOf(t *testing.T) {
	cases := map[string]Kind{
		"news": Public, "private-a": Private, "private-encrypted-a": Encrypted,
		"presence-a": Presence, "cache-a": Cache, "private-cache-a": PrivateCache,
		"presence-cache-a": PresenceCache, "privatex": Public,
		"private-encrypted-cache-a": EncryptedCache,
	}
	for name, want := range cases {
		if got := KindOf(name); got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
	if k := EncryptedCache; !k.IsCache() || !k.IsEncrypted() || !k.NeedsAuth() || k.AllowsClientEvents() || k.IsPresence() {
		t.Errorf("private-encrypted-cache- must be a cache channel that needs auth and takes no client events")
	}
}

func TestValidChannelName(t *testing.T) {
	for _, ok := range []string{"a", "private-x_y=z@a,b.c;d", strings.Repeat("a", 164), "#server-to-user-42"} {
		if !ValidChannelName(ok) {
			t.Errorf("refused %q", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a#", "#", "##a", "ü", strings.Repeat("a", 165), "a\x00", "server-to-user-a|b"} {
		if ValidChannelName(bad) {
			t.Errorf("accepted %q", bad)
		}
	}
}

// A user channel takes the ids a sign-in takes, and only those, so a socket
// that signed in can always subscribe and be sent to.
func TestUserChannelNamesFollowTheUserIDRule(t *testing.T) {
	long := strings.Repeat("é", MaxUserIDLength/2) // 2 bytes each
	for _, id := range []string{"auth0|5f7c8ec7c33c6c004bbafe82", "a+b@x.com", "Ann Smith", "ü/ñ:\"quoted\"", long, strings.Repeat("a", 200)} {
		if !ValidUserID(id) || !ValidChannelName(UserChannelPrefix+id) {
			t.Errorf("refused %q (%d bytes)", id, len(id))
		}
	}
	for _, id := range []string{"", long + "a", "a\nb", "a\x00", "a\x7f", "a\u0085", "a\xff"} {
		if ValidUserID(id) || ValidChannelName(UserChannelPrefix+id) {
			t.Errorf("accepted %q (%d bytes)", id, len(id))
		}
		quoted, _ := json.Marshal(id)
		if !utf8.ValidString(id) {
			quoted = []byte(`"` + id + `"`) // Marshal would repair it
		}
		if _, err := DecodeUserData(`{"id":` + string(quoted) + `}`); !errors.Is(err, ErrBadUserID) && id != "" {
			t.Errorf("sign-in accepted %q", id)
		}
	}
	if r := ChannelNameRule(UserChannelPrefix + "x"); !strings.Contains(r, UserIDRule) {
		t.Errorf("user channel rule: %q", r)
	}
	if r := ChannelNameRule("a b"); !strings.Contains(r, "1-164") {
		t.Errorf("channel rule: %q", r)
	}
}

func TestMessagesAreValidJSONWithStringData(t *testing.T) {
	msgs := [][]byte{
		ConnectionEstablished("1.2", 30), Error(4001, `no "app"`), Pong, Ping,
		SubscriptionSucceeded("c"), PresenceSucceeded("presence-c", []byte(`{"presence":{"count":0,"ids":[],"hash":{}}}`)),
		SubscriptionError("c", "AuthError", "bad", 401), MemberAdded("p", []byte(`"1"`), []byte(`{"n":1}`)),
		MemberRemoved("p", []byte(`2`)), AppEvent("e", "c", "x\u2028\x01\"\\"), CacheMiss("c"),
	}
	for _, m := range msgs {
		var v struct {
			Event string `json:"event"`
			Data  any    `json:"data"`
		}
		if err := json.Unmarshal(m, &v); err != nil || v.Event == "" {
			t.Fatalf("%s: %v", m, err)
		}
		if _, isString := v.Data.(string); v.Data != nil && !isString {
			t.Fatalf("data must be a JSON string: %s", m)
		}
	}
	var ev struct{ Data string }
	_ = json.Unmarshal(AppEvent("e", "c", "x\u2028\x01\"\\"), &ev)
	if ev.Data != "x\u2028\x01\"\\" {
		t.Fatalf("data changed: %q", ev.Data)
	}
}

func TestDecodeMember(t *testing.T) {
	m, err := DecodeMember(`{"user_id":10,"user_info":{"name":"Mr. Channels"}}`)
	if err != nil || m.ID != "10" || string(m.IDJSON) != "10" || string(m.Info) != `{"name":"Mr. Channels"}` {
		t.Fatalf("%+v %v", m, err)
	}
	m, err = DecodeMember(`{"user_id":"u1"}`)
	if err != nil || m.ID != "u1" || string(m.IDJSON) != `"u1"` || m.Info != nil {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{``, `[]`, `{"user_id":null}`, `{"user_id":""}`, `{"user_id":true}`, `{"user_id":[1]}`} {
		if _, err := DecodeMember(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestDecodeSubscribeAcceptsStringData(t *testing.T) {
	s, err := DecodeSubscribe([]byte(`"{\"channel\":\"a\",\"auth\":\"k:s\"}"`))
	if err != nil || s.Channel != "a" || s.Auth != "k:s" {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestRoutePrefix(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "ws": "/ws", "/ws/": "/ws", "/a/b//": "/a/b"} {
		if got := RoutePrefix(in); got != want {
			t.Errorf("RoutePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConnectionEstablishedCarriesIDAndTimeout(t *testing.T) {
	for _, id := range []string{"1.2", "123456789.987654321", `odd"id\`, "é.1"} {
		for _, msg := range [][]byte{ConnectionEstablished(id, 120), AppendConnectionEstablished([]byte("x"), id, 120)[1:]} {
			var outer struct{ Event, Data string }
			if err := json.Unmarshal(msg, &outer); err != nil || outer.Event != "pusher:connection_established" {
				t.Fatalf("%q: bad message %s: %v", id, msg, err)
			}
			var inner struct {
				SocketID        string `json:"socket_id"`
				ActivityTimeout int    `json:"activity_timeout"`
			}
			if err := json.Unmarshal([]byte(outer.Data), &inner); err != nil || inner.SocketID != id || inner.ActivityTimeout != 120 {
				t.Fatalf("%q: data %s: %+v %v", id, outer.Data, inner, err)
			}
		}
	}
}

// The pooled check agrees with SignChannel for every secret, with and
// without channel_data, from many goroutines at once, and refuses a
// signature for anything else.
func TestVerifyChannelAuthAgreesWithSignChannel(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				secret := "secret-" + strconv.Itoa((g+i)%3)
				channel := "presence-" + strconv.Itoa(i)
				data := ""
				if i%2 == 0 {
					data = `{"user_id":"u` + strconv.Itoa(i) + `"}` + strings.Repeat("x", i*20)
				}
				sig := SignChannel(secret, "1.2", channel, data)
				if !VerifyChannelAuth("key", secret, "1.2", channel, data, "key:"+sig) {
					t.Errorf("valid auth refused: %s %s", secret, channel)
					return
				}
				if VerifyChannelAuth("key", secret, "1.2", channel, data+"!", "key:"+sig) ||
					VerifyChannelAuth("key", secret+"!", "1.2", channel, data, "key:"+sig) {
					t.Errorf("auth for other data accepted: %s %s", secret, channel)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Checking a subscription's auth leaves no garbage behind.
func TestVerifyChannelAuthAllocatesNothing(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumented builds allocate")
	}
	sig := "key:" + SignChannel("s", "1.2", "private-a", "")
	allocs := testing.AllocsPerRun(100, func() {
		if !VerifyChannelAuth("key", "s", "1.2", "private-a", "", sig) {
			t.Fatal("refused")
		}
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per check", allocs)
	}
}

// The start of a member list built in place is PresenceSucceeded's.
func TestPresenceSucceededStartIsPresenceSucceededs(t *testing.T) {
	for _, channel := range []string{"presence-c", "presence-\"quoted\"\u2028"} {
		list := `{"presence":{"count":1,"ids":["a\"b"],"hash":{"a\"b":null}}}`
		whole := PresenceSucceeded(channel, []byte(list))
		built := AppendPresenceSucceededStart(nil, channel)
		built = append(built, AppendString(nil, list)[1:len(AppendString(nil, list))-1]...)
		built = append(built, `"}`...)
		if string(built) != string(whole) {
			t.Fatalf("built %s\nwant  %s", built, whole)
		}
	}
}
