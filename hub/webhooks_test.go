package hub

import (
	"testing"

	"github.com/resound/resound/webhook"
)

// hookRecorder is the Hooks of a test: it takes every event.
type hookRecorder struct{ got []string }

func (r *hookRecorder) Wants(string, string) bool { return true }
func (r *hookRecorder) Emit(ev webhook.Event) {
	r.got = append(r.got, ev.Name+" "+ev.Channel)
}

func TestWebhooksLeaveOutPresenceCountsAndUserChannels(t *testing.T) {
	rec := &hookRecorder{}
	h := &Hub{hooks: rec}
	for _, ch := range []string{"presence-room", "#server-to-user-42", "private-x", "news"} {
		h.emitJoined("a", ch, 1, "")
		h.emitJoined("a", ch, 2, "")
		h.emitLeft("a", ch, 1, "")
		h.emitLeft("a", ch, 0, "")
	}
	h.emitReaped(nil, []ChannelRef{{App: "a", Channel: "#server-to-user-7"}, {App: "a", Channel: "presence-gone"}})
	want := []string{
		"channel_occupied presence-room", "channel_vacated presence-room",
		"channel_occupied private-x", "subscription_count private-x", "subscription_count private-x", "subscription_count private-x", "channel_vacated private-x",
		"channel_occupied news", "subscription_count news", "subscription_count news", "subscription_count news", "channel_vacated news",
		"channel_vacated presence-gone",
	}
	if len(rec.got) != len(want) {
		t.Fatalf("emitted %q\nwant %q", rec.got, want)
	}
	for i := range want {
		if rec.got[i] != want[i] {
			t.Fatalf("emitted %q\nwant %q", rec.got, want)
		}
	}
}
