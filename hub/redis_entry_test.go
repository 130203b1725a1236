package hub

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/resound/resound/protocol"
)

func apiEvent(ch, name, data string, cached bool) Message {
	return Message{Kind: KindEvent, AppID: "a", Channel: ch, Payload: protocol.AppEvent(name, ch, data),
		Origin: "n1", ExceptSocket: "1.2", Cached: cached, Event: name, Data: data}
}

// One API event to many channels carries its data once, and comes back as
// the same messages in the same order (positions name the cache keys).
func TestEntryCarriesAnEventToManyChannelsOnce(t *testing.T) {
	data := strings.Repeat("x", 100<<10)
	var msgs []Message
	for i := 0; i < 100; i++ {
		name := fmt.Sprint("ch-", i)
		if i%7 == 0 {
			name = "cache-" + name
		}
		msgs = append(msgs, apiEvent(name, "big", data, i%7 == 0))
	}
	// A different event after it, a whisper, and presence news keep their own shape.
	msgs = append(msgs, apiEvent("ch-0", "other", data, false),
		Message{Kind: KindEvent, AppID: "a", Channel: "private-x", Payload: []byte(`{"event":"client-x"}`), Origin: "n1"},
		Message{Kind: KindEvent, AppID: "a", Channel: "presence-p", Payload: []byte(`{"event":"pusher_internal:member_added"}`), UserID: "u", Version: 3})
	body, err := encodeEntry(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 3*len(data)+10<<10 {
		t.Fatalf("entry is %d bytes for 2 events of %d bytes: the data is copied per channel", len(body), len(data))
	}
	got, err := decodeEntry(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("decoded %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		w, g := msgs[i], got[i]
		if g.Channel != w.Channel || !bytes.Equal(g.Payload, w.Payload) || g.Cached != w.Cached || g.ExceptSocket != w.ExceptSocket ||
			g.Origin != w.Origin || g.UserID != w.UserID || g.Version != w.Version || g.Kind != w.Kind || g.AppID != w.AppID {
			t.Fatalf("message %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestEntryRefusesAChannelListWithoutEvent(t *testing.T) {
	if _, err := decodeEntry(`[{"k":1,"a":"a","cs":["x","y"]}]`); err == nil {
		t.Fatal("a channel list without an event name decoded")
	}
}
