package protocol

import (
	stdjson "encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSignUserMatchesTheSDKs(t *testing.T) {
	// pusher-php's authenticateUser signs "socket_id::user::user_data";
	// the value below is that HMAC computed independently (openssl dgst).
	got := SignUser("secret-1", "123.456", `{"id":"1"}`)
	if got != "39c10be50019a889e3ed5ee34c458be30c5564f98aab29a4581a9d9a04fa5863" {
		t.Fatalf("signature %q", got)
	}
	auth := "key-1:" + got
	if !VerifyUserAuth("key-1", "secret-1", "123.456", `{"id":"1"}`, auth) {
		t.Fatal("refused its own signature")
	}
	for name, bad := range map[string][4]string{
		"other key":       {"key-2", "secret-1", "123.456", `{"id":"1"}`},
		"other secret":    {"key-1", "secret-2", "123.456", `{"id":"1"}`},
		"other socket":    {"key-1", "secret-1", "123.457", `{"id":"1"}`},
		"other user_data": {"key-1", "secret-1", "123.456", `{"id":"2"}`},
	} {
		if VerifyUserAuth(bad[0], bad[1], bad[2], bad[3], auth) {
			t.Errorf("%s: accepted", name)
		}
	}
	if VerifyUserAuth("key-1", "secret-1", "123.456", `{"id":"1"}`, got) {
		t.Error("accepted an auth without the key part")
	}
}

func TestDecodeSignin(t *testing.T) {
	s, err := DecodeSignin([]byte(`{"auth":"k:s","user_data":"{\"id\":\"1\"}"}`))
	if err != nil || s.Auth != "k:s" || s.UserData != `{"id":"1"}` {
		t.Fatalf("got %+v, %v", s, err)
	}
	if _, err := DecodeSignin([]byte(`"{\"auth\":\"k:s\",\"user_data\":\"{}\"}"`)); err != nil {
		t.Errorf("a string holding the object was refused: %v", err)
	}
	for _, bad := range []string{``, `null`, `[]`, `{}`, `{"auth":"k:s"}`, `{"user_data":"{}"}`, `{"auth":1,"user_data":"{}"}`, `{"auth":"k:s","user_data":{"id":"1"}}`} {
		if _, err := DecodeSignin([]byte(bad)); err != ErrBadSignin {
			t.Errorf("%s: got %v, want ErrBadSignin", bad, err)
		}
	}
}

func TestDecodeUserData(t *testing.T) {
	u, err := DecodeUserData(`{"id":"7","user_info":{"name":"A"},"watchlist":["1","2","1"]}`)
	if err != nil || u.ID != "7" || !reflect.DeepEqual(u.Watchlist, []string{"1", "2"}) {
		t.Fatalf("got %+v, %v", u, err)
	}
	if u, err := DecodeUserData(`{"id":"x","watchlist":null}`); err != nil || u.Watchlist != nil {
		t.Errorf("null watchlist: %+v, %v", u, err)
	}
	for _, bad := range []string{``, `x`, `[]`, `{}`, `{"id":""}`, `{"id":7}`, `{"id":null}`, `{"id":"1"`} {
		if _, err := DecodeUserData(bad); err != ErrBadUserData {
			t.Errorf("%s: got %v, want ErrBadUserData", bad, err)
		}
	}
	_, err = DecodeUserData(`{"id":"` + strings.Repeat("a", MaxUserIDLength+1) + `"}`)
	if !errors.Is(err, ErrBadUserID) || !strings.Contains(err.Error(), "257 bytes") {
		t.Errorf("over-long id: %v", err)
	}
	if _, err := DecodeUserData(`{"id":"a\u0000b"}`); !errors.Is(err, ErrBadUserID) || !strings.Contains(err.Error(), "control characters") {
		t.Errorf("control character in id: %v", err)
	}
	for _, bad := range []string{`{"id":"1","watchlist":"2"}`, `{"id":"1","watchlist":[2]}`, `{"id":"1","watchlist":[""]}`} {
		if _, err := DecodeUserData(bad); err != ErrBadWatchlist {
			t.Errorf("%s: got %v, want ErrBadWatchlist", bad, err)
		}
	}
}

// decodeData parses a server message whose data is a JSON string.
func decodeData(t *testing.T, msg []byte, into any) map[string]any {
	t.Helper()
	var m map[string]any
	if err := stdjson.Unmarshal(msg, &m); err != nil {
		t.Fatalf("%s: %v", msg, err)
	}
	data, ok := m["data"].(string)
	if !ok {
		t.Fatalf("%s: data is not a string", msg)
	}
	if err := stdjson.Unmarshal([]byte(data), into); err != nil {
		t.Fatalf("%s: data: %v", msg, err)
	}
	return m
}

func TestUserMessages(t *testing.T) {
	var ok struct {
		UserData string `json:"user_data"`
	}
	if m := decodeData(t, SigninSuccess(`{"id":"1"}`), &ok); m["event"] != "pusher:signin_success" || ok.UserData != `{"id":"1"}` {
		t.Errorf("signin_success: %v %+v", m, ok)
	}
	var e struct {
		Type, Error string
		Status      int
	}
	if m := decodeData(t, SigninError("AuthError", `bad "x"`, 401), &e); m["event"] != "pusher:signin_error" || e.Type != "AuthError" || e.Error != `bad "x"` || e.Status != 401 {
		t.Errorf("signin_error: %v %+v", m, e)
	}
	var w struct {
		Events []struct {
			Name    string   `json:"name"`
			UserIDs []string `json:"user_ids"`
		} `json:"events"`
	}
	m := decodeData(t, WatchlistEvent(false, []string{"1", `"2"`}), &w)
	if m["event"] != "pusher_internal:watchlist_events" || len(w.Events) != 1 || w.Events[0].Name != "offline" || !reflect.DeepEqual(w.Events[0].UserIDs, []string{"1", `"2"`}) {
		t.Errorf("watchlist: %v %+v", m, w)
	}
	var c struct {
		N int `json:"subscription_count"`
	}
	if m := decodeData(t, SubscriptionCount("c", 3), &c); m["event"] != "pusher_internal:subscription_count" || m["channel"] != "c" || c.N != 3 {
		t.Errorf("subscription_count: %v %+v", m, c)
	}
	if id, ok := UserOf("#server-to-user-a@b"); !ok || id != "a@b" {
		t.Errorf("UserOf: %q %v", id, ok)
	}
	if _, ok := UserOf("server-to-user-a"); ok {
		t.Error("UserOf accepted a name without '#'")
	}
}
