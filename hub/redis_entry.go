package hub

import (
	"errors"

	json "github.com/goccy/go-json"
	"github.com/resound/resound/protocol"
)

// wireMessage is a Message in a stream entry; Payload is JSON already. An
// HTTP API event to several channels travels as one wireMessage with
// Channels, Event and Data instead of one encoded Payload per channel, so a
// 100 KB event to 100 channels is a 100 KB entry, not a 10 MB one.
type wireMessage struct {
	Kind         MessageKind     `json:"k"`
	AppID        string          `json:"a"`
	Channel      string          `json:"c,omitempty"`
	Payload      json.RawMessage `json:"p,omitempty"`
	ExceptSocket string          `json:"x,omitempty"`
	UserID       string          `json:"u,omitempty"`
	Origin       string          `json:"o,omitempty"`
	Version      int64           `json:"v,omitempty"`
	SkipOrigin   bool            `json:"s,omitempty"`
	Cached       bool            `json:"ca,omitempty"`
	Channels     []string        `json:"cs,omitempty"`
	Event        string          `json:"e,omitempty"`
	Data         string          `json:"d,omitempty"`
}

// encodeEntry serialises msgs as one entry. Consecutive messages of one API
// event (same name, data and fields, channel aside) share one wireMessage;
// decodeEntry expands it back in the same order, so positions in the entry
// (which the cache keys in Redis name) are the same on both sides.
func encodeEntry(msgs []Message) (string, error) {
	w := make([]wireMessage, 0, len(msgs))
	for i := 0; i < len(msgs); {
		m := msgs[i]
		j := i + 1
		if m.Kind == KindEvent && m.Event != "" && cachedByName(m) {
			for j < len(msgs) && sameEvent(m, msgs[j]) {
				j++
			}
		}
		wm := wireMessage{Kind: m.Kind, AppID: m.AppID, ExceptSocket: m.ExceptSocket, UserID: m.UserID, Origin: m.Origin,
			Version: m.Version, SkipOrigin: m.SkipOrigin}
		if j-i > 1 {
			wm.Event, wm.Data = m.Event, m.Data
			wm.Channels = make([]string, 0, j-i)
			for _, o := range msgs[i:j] {
				wm.Channels = append(wm.Channels, o.Channel)
			}
		} else {
			wm.Channel, wm.Payload, wm.Cached = m.Channel, m.Payload, m.Cached
		}
		w = append(w, wm)
		i = j
	}
	body, err := json.Marshal(w)
	return string(body), err
}

// sameEvent: b is a's API event for another channel. Cached follows from
// each channel's name (an API event on a cache- channel), so it may differ.
func sameEvent(a, b Message) bool {
	return b.Kind == a.Kind && b.Event == a.Event && b.Data == a.Data && b.AppID == a.AppID &&
		b.ExceptSocket == a.ExceptSocket && b.UserID == a.UserID && b.Origin == a.Origin &&
		b.Version == a.Version && b.SkipOrigin == a.SkipOrigin && cachedByName(a) && cachedByName(b)
}

func cachedByName(m Message) bool { return m.Cached == protocol.KindOf(m.Channel).IsCache() }

var errEntryShape = errors.New("a message with a channel list has no event name")

// decodeEntry is encodeEntry's inverse: one Message per channel.
func decodeEntry(body string) ([]Message, error) {
	var ws []wireMessage
	if err := json.Unmarshal([]byte(body), &ws); err != nil {
		return nil, err
	}
	n := 0
	for _, w := range ws {
		n += max(1, len(w.Channels))
	}
	msgs := make([]Message, 0, n)
	for _, w := range ws {
		m := Message{Kind: w.Kind, AppID: w.AppID, Channel: w.Channel, Payload: w.Payload, ExceptSocket: w.ExceptSocket,
			UserID: w.UserID, Origin: w.Origin, Version: w.Version, SkipOrigin: w.SkipOrigin, Cached: w.Cached}
		if len(w.Channels) == 0 {
			msgs = append(msgs, m)
			continue
		}
		if w.Event == "" {
			return nil, errEntryShape
		}
		m.Event, m.Data = w.Event, w.Data
		for _, ch := range w.Channels {
			m.Channel, m.Payload = ch, protocol.AppEvent(w.Event, ch, w.Data)
			m.Cached = protocol.KindOf(ch).IsCache()
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}
