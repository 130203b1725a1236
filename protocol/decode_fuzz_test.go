package protocol

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func FuzzDecodeClientMessage(f *testing.F) {
	f.Add([]byte(`{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":1}"}}`))
	f.Add([]byte(`{"event":"client-x","channel":"private-a","data":{"a":[1,2,{"b":null}]}}`))
	f.Add([]byte(`{"event":"pusher:subscribe","data":"{\"channel\":\"a\"}"}`))
	f.Add([]byte(`{"event":5}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeClientMessage(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("error without a message")
			}
			return
		}
		if m.Event == "" {
			t.Fatal("decoded a message without an event")
		}
		_, _ = DecodeSubscribe(m.Data)
		// What a whisper relays must be valid JSON.
		out := ClientEvent(m.Event, m.Channel, m.Data, "u")
		if utf8.Valid(b) && !json.Valid(out) {
			t.Fatalf("relay is not valid JSON: %s", out)
		}
	})
}

func FuzzDecodeMember(f *testing.F) {
	f.Add(`{"user_id":10,"user_info":{"name":"Mr. Channels"}}`)
	f.Add(`{"user_id":"a\"b"}`)
	f.Add(`{"user_id":-1e5}`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := DecodeMember(s)
		if err != nil {
			return
		}
		if m.ID == "" || !json.Valid(m.IDJSON) {
			t.Fatalf("member %+v from %q", m, s)
		}
		if !json.Valid(MemberAdded("presence-x", m.IDJSON, m.Info)) {
			t.Fatalf("member_added is not valid JSON for %q", s)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\xff\u2028\"\\")
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s", s, out)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip changed %q to %q", s, back)
		}
	})
}
