package protocol

import (
	"strconv"
	"unicode/utf8"
)

// The server's messages are built by appending to a byte slice: a broadcast
// is encoded once and the same bytes go to every subscriber.

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON and valid WebSocket text.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript source in older engines.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Event is a server-to-client message. Data is already encoded: either a JSON
// string literal (what Pusher sends) or raw JSON (relayed client events).
func appendEvent(dst []byte, event, channel string, data []byte, userID []byte) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendString(dst, event)
	if channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = AppendString(dst, channel)
	}
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	if userID != nil {
		dst = append(dst, `,"user_id":`...)
		dst = append(dst, userID...)
	}
	return append(dst, '}')
}

// AppEvent encodes an event published through the HTTP API: data is a string
// and is sent as a JSON string, verbatim.
func AppEvent(event, channel, data string) []byte {
	buf := make([]byte, 0, 40+len(event)+len(channel)+len(data)+len(data)/8)
	return appendEvent(buf, event, channel, AppendString(nil, data), nil)
}

// ClientEvent encodes a relayed whisper. Data is the raw JSON the sender sent;
// userID is the sender's presence user_id as a JSON string, or nil.
func ClientEvent(event, channel string, data []byte, userID string) []byte {
	var uid []byte
	if userID != "" {
		uid = AppendString(nil, userID)
	}
	if len(data) == 0 {
		data = []byte("null")
	}
	return appendEvent(make([]byte, 0, 48+len(event)+len(channel)+len(data)), event, channel, data, uid)
}

// ConnectionEstablished is the first message on every socket.
func ConnectionEstablished(socketID string, activityTimeout int) []byte {
	if plainSocketID(socketID) {
		return AppendConnectionEstablished(nil, socketID, activityTimeout)
	}
	inner := append([]byte(`{"socket_id":`), AppendString(nil, socketID)...)
	inner = append(inner, `,"activity_timeout":`...)
	inner = strconv.AppendInt(inner, int64(activityTimeout), 10)
	inner = append(inner, '}')
	return appendEvent(nil, "pusher:connection_established", "", AppendString(nil, string(inner)), nil)
}

// AppendConnectionEstablished appends pusher:connection_established for a
// socket id of digits and dots (what the hub issues), without the
// intermediate encodings ConnectionEstablished needs for any other id: it is
// sent once per handshake, and its garbage is most of a handshake's.
func AppendConnectionEstablished(dst []byte, socketID string, activityTimeout int) []byte {
	if !plainSocketID(socketID) {
		return append(dst, ConnectionEstablished(socketID, activityTimeout)...)
	}
	dst = append(dst, `{"event":"pusher:connection_established","data":"{\"socket_id\":\"`...)
	dst = append(dst, socketID...)
	dst = append(dst, `\",\"activity_timeout\":`...)
	dst = strconv.AppendInt(dst, int64(activityTimeout), 10)
	return append(dst, `}"}`...)
}

// plainSocketID says whether a socket id needs no JSON escaping.
func plainSocketID(id string) bool {
	for i := 0; i < len(id); i++ {
		if (id[i] < '0' || id[i] > '9') && id[i] != '.' {
			return false
		}
	}
	return true
}

// Error encodes pusher:error with a code and a message saying what to do.
func Error(code int, message string) []byte {
	inner := append([]byte(`{"code":`), strconv.Itoa(code)...)
	inner = append(inner, `,"message":`...)
	inner = AppendString(inner, message)
	inner = append(inner, '}')
	return appendEvent(nil, "pusher:error", "", AppendString(nil, string(inner)), nil)
}

// Fixed messages, shared.
var (
	Pong = []byte(`{"event":"pusher:pong","data":"{}"}`)
	Ping = []byte(`{"event":"pusher:ping","data":"{}"}`)
)

// SubscriptionSucceeded for a non-presence channel.
func SubscriptionSucceeded(channel string) []byte {
	return appendEvent(nil, "pusher_internal:subscription_succeeded", channel, []byte(`"{}"`), nil)
}

// PresenceSucceeded carries the member list: data is the already-encoded
// {"presence":{...}} object, sent as a JSON string.
func PresenceSucceeded(channel string, presence []byte) []byte {
	return appendEvent(nil, "pusher_internal:subscription_succeeded", channel, AppendString(nil, string(presence)), nil)
}

// AppendPresenceSucceededStart appends PresenceSucceeded up to the inside
// of its data string, for a caller that appends the member list already
// escaped for it and then closes with `"}`: a member list is built once in
// the buffer it is sent from.
func AppendPresenceSucceededStart(dst []byte, channel string) []byte {
	dst = append(dst, `{"event":"pusher_internal:subscription_succeeded","channel":`...)
	dst = AppendString(dst, channel)
	return append(dst, `,"data":"`...)
}

// SubscriptionError tells Echo's .error() why a subscription was refused.
func SubscriptionError(channel, errType, message string, status int) []byte {
	return appendEvent(nil, "pusher:subscription_error", channel, AppendString(nil, string(errorBody(errType, message, status))), nil)
}

// errorBody is the {"type","error","status"} object pusher-js reads from a
// refused subscription or sign-in.
func errorBody(errType, message string, status int) []byte {
	inner := append([]byte(`{"type":`), AppendString(nil, errType)...)
	inner = append(inner, `,"error":`...)
	inner = AppendString(inner, message)
	inner = append(inner, `,"status":`...)
	inner = strconv.AppendInt(inner, int64(status), 10)
	return append(inner, '}')
}

// MemberAdded carries {"user_id":..,"user_info":..} as a JSON string.
func MemberAdded(channel string, userIDJSON, userInfo []byte) []byte {
	inner := append([]byte(`{"user_id":`), userIDJSON...)
	if len(userInfo) > 0 {
		inner = append(inner, `,"user_info":`...)
		inner = append(inner, userInfo...)
	}
	inner = append(inner, '}')
	return appendEvent(nil, "pusher_internal:member_added", channel, AppendString(nil, string(inner)), nil)
}

// MemberRemoved carries {"user_id":..} as a JSON string.
func MemberRemoved(channel string, userIDJSON []byte) []byte {
	inner := append([]byte(`{"user_id":`), userIDJSON...)
	inner = append(inner, '}')
	return appendEvent(nil, "pusher_internal:member_removed", channel, AppendString(nil, string(inner)), nil)
}

// CacheMiss tells a cache-channel subscriber there is nothing to replay.
func CacheMiss(channel string) []byte {
	return appendEvent(nil, "pusher:cache_miss", channel, nil, nil)
}
