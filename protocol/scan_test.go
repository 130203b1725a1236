package protocol

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"strings"
	"testing"

	json "github.com/goccy/go-json"
)

// referenceDecode is DecodeClientMessage written with encoding/json: the
// strict scanner must agree with it on every input.
func referenceDecode(b []byte) (ClientMessage, error) {
	var m ClientMessage
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' || !stdjson.Valid(b) {
		return m, ErrNotJSON
	}
	dec := stdjson.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return m, ErrNotJSON
	}
	wrongType := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return m, ErrNotJSON
		}
		key := tok.(string)
		var raw stdjson.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return m, ErrNotJSON
		}
		switch key {
		case "event", "channel":
			var v *string
			if err := stdjson.Unmarshal(raw, &v); err != nil {
				wrongType = true
			} else if v != nil && key == "event" {
				m.Event = *v
			} else if v != nil {
				m.Channel = *v
			}
		case "data":
			m.Data = json.RawMessage(raw)
		}
	}
	if wrongType || m.Event == "" {
		return m, ErrNoEvent
	}
	return m, nil
}

func checkAgainstReference(t *testing.T, in []byte) {
	t.Helper()
	got, gotErr := DecodeClientMessage(in)
	want, wantErr := referenceDecode(in)
	if !errors.Is(gotErr, wantErr) {
		t.Fatalf("%q: error %v, encoding/json says %v", in, gotErr, wantErr)
	}
	if gotErr == ErrNotJSON {
		return
	}
	if got.Event != want.Event || got.Channel != want.Channel || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("%q: decoded %q %q %s, encoding/json %q %q %s", in, got.Event, got.Channel, got.Data, want.Event, want.Channel, want.Data)
	}
}

func TestDecodeClientMessageAgreesWithEncodingJSON(t *testing.T) {
	cases := []string{
		`{"event":"pusher:ping","data":{}}`,
		` { "event" : "client-x" , "channel" : "private-a" , "data" : [1, -0.5e+3, true, false, null, "s"] } `,
		`{"event":"a\u00e9\ud83d\ude00\n","data":"x"}`,
		`{"event":"\ud800","data":1}`,     // lone surrogate → U+FFFD
		"{\"event\":\"\xff\",\"data\":1}", // invalid UTF-8 → U+FFFD
		`{"event":"a","event":null}`,      // null keeps the earlier value
		`{"event":"a","channel":5}`,       // wrong type
		`{"event":5}`,
		`{"EVENT":"a"}`, // keys are case-sensitive
		`{"event":"a","dAtA":{""}}`,
		`{"event":"a","data":01}`,
		`{"event":"a","data":1.}`,
		`{"event":"a","data":-}`,
		`{"event":"a","data":"\x"}`,
		`{"event":"a","data":"` + "\x01" + `"}`,
		`{"event":"a","data":[1,]}`,
		`{"event":"a",}`,
		`{"event":"a"} x`,
		`{"event":"a"}{}`,
		`[]`, ``, `{`, `nul`, `{"event":"a","data":tru}`,
		`{"event":"a","data":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`,
	}
	for _, c := range cases {
		checkAgainstReference(t, []byte(c))
	}
}

func TestDecodeClientMessageDepthIsBounded(t *testing.T) {
	deep := `{"event":"a","data":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`
	if _, err := DecodeClientMessage([]byte(deep)); err != ErrNotJSON {
		t.Fatalf("nesting deeper than %d: %v", maxDepth, err)
	}
}

func FuzzDecodeClientMessageMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"event":"client-x","channel":"private-a","data":{"a":[1,2,{"b":null}]}}`))
	f.Add([]byte(`{"event":"a\u00e9\ud83d\ude00","data":"\"\\\/\b\f\n\r\t"}`))
	f.Add([]byte(`{"event":"0","dAtA":{""}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstReference(t, b)
	})
}

var benchFrame = []byte(`{"event":"client-typing","channel":"presence-room.42","data":{"user":{"id":17,"name":"Ada Lovelace"},"typing":true,"at":1795984818208}}`)

func BenchmarkDecodeClientMessage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeClientMessage(benchFrame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeClientMessageTwoPass is the previous way: the strict
// encoding/json validator, then goccy.
func BenchmarkDecodeClientMessageTwoPass(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var m ClientMessage
		if !stdjson.Valid(benchFrame) || json.Unmarshal(benchFrame, &m) != nil {
			b.Fatal("invalid")
		}
	}
}
