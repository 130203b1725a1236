package protocol

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"strings"

	json "github.com/goccy/go-json"
)

// ClientMessage is one frame from a client: {"event","channel"?,"data"?}.
type ClientMessage struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// Decode errors carry the text sent back in pusher:error, so they say what is
// wrong and what the client should send instead.
var (
	ErrNotJSON      = errors.New("Invalid message format: expected a JSON object like {\"event\":\"...\",\"data\":{...}}")
	ErrNoEvent      = errors.New("Invalid message format: the \"event\" field must be a non-empty string")
	ErrBadSubscribe = errors.New("Invalid subscribe: data must be an object with a string \"channel\" (and \"auth\", \"channel_data\" strings where needed)")
)

// DecodeClientMessage parses a client frame in one strict pass. It never
// panics on any input. Data aliases b: use it before b is reused.
func DecodeClientMessage(b []byte) (ClientMessage, error) {
	var m ClientMessage
	s := scanner{b: b}
	s.skipSpace()
	if s.i >= len(b) || b[s.i] != '{' {
		return m, ErrNotJSON
	}
	wrongType := false
	ok := s.object(func(key []byte) bool {
		s.skipSpace()
		switch string(key) {
		case "event", "channel":
			if s.i < len(b) && b[s.i] == '"' {
				raw, escaped, ok := s.str()
				if string(key) == "event" {
					m.Event = text(raw, escaped)
				} else {
					m.Channel = text(raw, escaped)
				}
				return ok
			}
			// null leaves the field as it was; any other type is wrong.
			wrongType = wrongType || s.i >= len(b) || b[s.i] != 'n'
		case "data":
			start := s.i
			if !s.value() {
				return false
			}
			m.Data = b[start:s.i]
			return true
		}
		return s.value()
	})
	s.skipSpace()
	if !ok || s.i != len(b) {
		return ClientMessage{}, ErrNotJSON
	}
	if wrongType || m.Event == "" {
		return m, ErrNoEvent
	}
	return m, nil
}

// Subscribe is the data of pusher:subscribe.
type Subscribe struct {
	Channel     string `json:"channel"`
	Auth        string `json:"auth"`
	ChannelData string `json:"channel_data"`
}

// DecodeSubscribe reads the subscribe (or unsubscribe) data. Some clients send
// the data object as a JSON string; both are accepted.
func DecodeSubscribe(data []byte) (Subscribe, error) {
	var s Subscribe
	data = unwrapString(data)
	if len(data) == 0 || data[0] != '{' {
		return s, ErrBadSubscribe
	}
	if err := json.UnmarshalNoEscape(data, &s); err != nil {
		return s, ErrBadSubscribe
	}
	return s, nil
}

// unwrapString turns a JSON string that itself holds a JSON object into the
// object's bytes; anything else is returned as is.
func unwrapString(data []byte) []byte {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if json.Unmarshal(data, &s) == nil {
			return []byte(strings.TrimSpace(s))
		}
	}
	return data
}

// Member is a presence channel's channel_data: who the user is.
type Member struct {
	// ID is the user_id as text, the key that makes members unique.
	ID string
	// IDJSON is the user_id as the client sent it (number or string).
	IDJSON []byte
	// Info is the raw user_info JSON, or nil.
	Info []byte
}

var ErrBadChannelData = errors.New("Invalid channel_data: expected a JSON string holding {\"user_id\":...,\"user_info\":{...}}")

// DecodeMember parses presence channel_data; user_id must be a non-empty
// string or a number.
func DecodeMember(channelData string) (Member, error) {
	var raw struct {
		UserID   json.RawMessage `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	if !stdjson.Valid([]byte(channelData)) {
		return Member{}, ErrBadChannelData
	}
	if err := json.UnmarshalNoEscape([]byte(channelData), &raw); err != nil {
		return Member{}, ErrBadChannelData
	}
	id := bytes.TrimSpace(raw.UserID)
	var m Member
	switch {
	case len(id) > 1 && id[0] == '"':
		var s string
		if json.UnmarshalNoEscape(id, &s) != nil || s == "" {
			return Member{}, ErrBadChannelData
		}
		m.ID = s
		m.IDJSON = AppendString(nil, s)
	case len(id) > 0 && (id[0] == '-' || (id[0] >= '0' && id[0] <= '9')):
		var f json.Number
		if json.UnmarshalNoEscape(id, &f) != nil {
			return Member{}, ErrBadChannelData
		}
		m.ID = string(id)
		m.IDJSON = append([]byte(nil), id...)
	default:
		return Member{}, ErrBadChannelData
	}
	if info := bytes.TrimSpace(raw.UserInfo); len(info) > 0 && string(info) != "null" {
		m.Info = append([]byte(nil), info...)
	}
	return m, nil
}
