package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	json "github.com/goccy/go-json"
	"github.com/resound/resound/protocol"
)

// Event is one thing that happened on an app's channel. App routes it and
// is not part of the payload.
type Event struct {
	App      string `json:"app"`
	Name     string `json:"name"`
	Channel  string `json:"channel"`
	UserID   string `json:"user_id,omitempty"`
	Event    string `json:"event,omitempty"`
	Data     string `json:"data,omitempty"`
	SocketID string `json:"socket_id,omitempty"`
	// Count is subscription_count's value.
	Count int `json:"subscription_count,omitempty"`
}

// holdKey names what a removal is held under and what cancels it: the same
// user on the same channel for members, the channel for occupancy. Other
// events are never held ("").
func (e Event) holdKey() (key string, removal bool) {
	switch e.Name {
	case MemberRemoved:
		return e.App + "\x00" + e.Channel + "\x00" + e.UserID, true
	case MemberAdded:
		return e.App + "\x00" + e.Channel + "\x00" + e.UserID, false
	case ChannelVacated:
		return e.App + "\x00" + e.Channel, true
	case ChannelOccupied:
		return e.App + "\x00" + e.Channel, false
	}
	return "", false
}

// DataString is the client event's data as Pusher's webhook carries it: a
// string as is, anything else as its JSON text.
func DataString(raw []byte) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// AppendBody writes one POST's body: {"time_ms":...,"events":[...]}.
func AppendBody(b []byte, timeMs int64, events []Event) []byte {
	b = append(b, `{"time_ms":`...)
	b = strconv.AppendInt(b, timeMs, 10)
	b = append(b, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, e.Name)
		b = append(b, `,"channel":`...)
		b = appendString(b, e.Channel)
		switch e.Name {
		case MemberAdded, MemberRemoved:
			b = append(b, `,"user_id":`...)
			b = appendString(b, e.UserID)
		case ClientEvent:
			b = append(b, `,"event":`...)
			b = appendString(b, e.Event)
			b = append(b, `,"data":`...)
			b = appendString(b, e.Data)
			b = append(b, `,"socket_id":`...)
			b = appendString(b, e.SocketID)
			if e.UserID != "" {
				b = append(b, `,"user_id":`...)
				b = appendString(b, e.UserID)
			}
		case SubscriptionCount:
			b = append(b, `,"subscription_count":`...)
			b = strconv.AppendInt(b, int64(e.Count), 10)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendString(b []byte, s string) []byte { return protocol.AppendString(b, s) }

// Sign is X-Pusher-Signature: the hex HMAC-SHA256 of the body keyed by the
// app secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
