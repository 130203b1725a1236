package protocol

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
)

// UserChannelPrefix starts the channel a signed-in socket subscribes to for
// the events the back end sends to its user (pusher-js does so after
// pusher:signin_success). Only a socket signed in as that user may join it.
const UserChannelPrefix = "#server-to-user-"

// UserOf returns the user id of a #server-to-user- channel name.
func UserOf(channel string) (string, bool) {
	if !strings.HasPrefix(channel, UserChannelPrefix) {
		return "", false
	}
	return channel[len(UserChannelPrefix):], true
}

// Signin is the data of pusher:signin.
type Signin struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

// ErrBadSignin is a pusher:signin without the two strings it needs.
var ErrBadSignin = errors.New("Invalid signin: data must be an object with the strings \"auth\" and \"user_data\" from your user authentication endpoint")

// DecodeSignin reads pusher:signin data (an object, or a string holding one).
func DecodeSignin(data []byte) (Signin, error) {
	var s Signin
	data = unwrapString(data)
	if len(data) == 0 || data[0] != '{' {
		return s, ErrBadSignin
	}
	if err := json.Unmarshal(data, &s); err != nil || s.Auth == "" || s.UserData == "" {
		return Signin{}, ErrBadSignin
	}
	return s, nil
}

// SignUser returns the hex HMAC-SHA256 a user authentication endpoint signs:
// over "socket_id::user::user_data", as the Pusher server SDKs'
// authenticateUser does.
func SignUser(secret, socketID, userData string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(socketID))
	mac.Write([]byte("::user::"))
	mac.Write([]byte(userData))
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifyUserAuth checks a sign-in's "key:signature" in constant time.
func VerifyUserAuth(key, secret, socketID, userData, auth string) bool {
	k, sig, ok := strings.Cut(auth, ":")
	if !ok || k != key {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(SignUser(secret, socketID, userData)))
}

// UserData is what a sign-in says about the user.
type UserData struct {
	ID        string
	Watchlist []string
}

var (
	ErrBadUserData  = errors.New("Invalid user_data: expected a JSON object with a non-empty string \"id\" (and optionally \"user_info\" and a \"watchlist\" array of user id strings)")
	ErrBadWatchlist = errors.New("Invalid user_data: \"watchlist\" must be an array of non-empty user id strings")
)

// ErrBadUserID is the kind of error a sign-in gets for an id that could not
// name its #server-to-user- channel; errors.Is finds it.
var ErrBadUserID = errors.New("Invalid user_data: \"id\" must be " + UserIDRule)

func badUserID(id string) error {
	if len(id) > MaxUserIDLength {
		return fmt.Errorf("%w, got %d bytes: sign in with a shorter id (a database key, not a profile)", ErrBadUserID, len(id))
	}
	return fmt.Errorf("%w, got %s: remove the control characters or invalid UTF-8 from the id", ErrBadUserID, strconv.Quote(id))
}

// DecodeUserData parses a sign-in's user_data. The id must be a non-empty
// string (pusher-js drops a sign-in whose id is anything else); duplicate
// watchlist entries are kept once.
func DecodeUserData(userData string) (UserData, error) {
	var raw struct {
		ID        stdjson.RawMessage `json:"id"`
		Watchlist stdjson.RawMessage `json:"watchlist"`
	}
	b := bytes.TrimSpace([]byte(userData))
	if len(b) == 0 || b[0] != '{' || !stdjson.Valid(b) {
		return UserData{}, ErrBadUserData
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return UserData{}, ErrBadUserData
	}
	var u UserData
	if id := bytes.TrimSpace(raw.ID); len(id) == 0 || id[0] != '"' || json.Unmarshal(id, &u.ID) != nil || u.ID == "" {
		return UserData{}, ErrBadUserData
	}
	if !ValidUserID(u.ID) {
		return UserData{}, badUserID(u.ID)
	}
	if w := bytes.TrimSpace(raw.Watchlist); len(w) > 0 && string(w) != "null" {
		var list []string
		if w[0] != '[' || json.Unmarshal(w, &list) != nil {
			return UserData{}, ErrBadWatchlist
		}
		seen := make(map[string]struct{}, len(list))
		for _, id := range list {
			if id == "" {
				return UserData{}, ErrBadWatchlist
			}
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				u.Watchlist = append(u.Watchlist, id)
			}
		}
	}
	return u, nil
}

// SigninSuccess echoes the user_data the socket signed in with.
func SigninSuccess(userData string) []byte {
	inner := append([]byte(`{"user_data":`), AppendString(nil, userData)...)
	inner = append(inner, '}')
	return appendEvent(nil, "pusher:signin_success", "", AppendString(nil, string(inner)), nil)
}

// SigninError refuses a sign-in; the socket stays connected.
func SigninError(errType, message string, status int) []byte {
	return appendEvent(nil, "pusher:signin_error", "", AppendString(nil, string(errorBody(errType, message, status))), nil)
}

// WatchlistEvent tells a signed-in socket that users it watches came online
// (online true) or went offline.
func WatchlistEvent(online bool, userIDs []string) []byte {
	name := "offline"
	if online {
		name = "online"
	}
	inner := append([]byte(`{"events":[{"name":"`), name...)
	inner = append(inner, `","user_ids":[`...)
	for i, id := range userIDs {
		if i > 0 {
			inner = append(inner, ',')
		}
		inner = AppendString(inner, id)
	}
	inner = append(inner, "]}]}"...)
	return appendEvent(nil, "pusher_internal:watchlist_events", "", AppendString(nil, string(inner)), nil)
}

// SubscriptionCount tells a channel's subscribers how many it has.
func SubscriptionCount(channel string, n int) []byte {
	inner := strconv.AppendInt([]byte(`{"subscription_count":`), int64(n), 10)
	inner = append(inner, '}')
	return appendEvent(nil, "pusher_internal:subscription_count", channel, AppendString(nil, string(inner)), nil)
}
