package hub

import (
	"strconv"
	"testing"
	"time"
)

// Run: go test -run XXX -bench 'Subscribe|PresenceJoin' -benchmem ./hub

// countingOutbox drops what it is sent and counts the bytes.
type countingOutbox struct{ bytes int }

func (o *countingOutbox) Send(frames ...[]byte) {
	for _, f := range frames {
		o.bytes += len(f)
	}
}

func (o *countingOutbox) Kick(int, string) {}

func openCounted(b *testing.B, h *Hub, a *App) (*Session, *countingOutbox) {
	out := &countingOutbox{}
	s, _, msg := h.Open(a, 0, out)
	if s == nil {
		b.Fatal(msg)
	}
	return s, out
}

// benchSubscribe reports the loop time one socket takes to subscribe to n
// public channels.
func benchSubscribe(b *testing.B, app AppConfig, n int) {
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = subscribeMsg("c" + strconv.Itoa(i))
	}
	var total time.Duration
	runs := 0
	for b.Loop() {
		b.StopTimer()
		h, a := newTestHub(b, app)
		s, _ := openCounted(b, h, a)
		b.StartTimer()
		start := time.Now()
		for i := range msgs {
			s.Handle(msgs[i])
		}
		total += time.Since(start)
		runs++
		b.StopTimer()
		if want := subscribableOf(a, n); int(s.nsubs) != want {
			b.Fatalf("%d subscriptions, want %d", int(s.nsubs), want)
		}
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(runs)/1000, "ms/socket")
	b.ReportMetric(float64(total.Nanoseconds())/float64(runs*n), "ns/subscribe")
}

func BenchmarkSubscribe100kChannelsNoLimit(b *testing.B) {
	benchSubscribe(b, liftedLimits, 100_000)
}

// BenchmarkSubscribeToDefaultLimit subscribes to the default 1000 channels
// and tries one more, which is refused.
func BenchmarkSubscribeToDefaultLimit(b *testing.B) {
	benchSubscribe(b, AppConfig{}, 1001)
}

// benchPresenceJoin measures one new user joining a presence channel that
// already has members users (and leaving, so the size holds): the member
// list it is sent, and member_added / member_removed to everyone.
func benchPresenceJoin(b *testing.B, members int) {
	h, a := newTestHub(b, liftedLimits)
	info := `{"name":"A user with a longish display name","avatar":"https://example.com/avatars/12345.png"}`
	for i := 0; i < members; i++ {
		s, _ := openCounted(b, h, a)
		s.Handle(presenceSubscribeMsg(s, "presence-room", i, info))
	}
	joiner, out := openCounted(b, h, a)
	join := presenceSubscribeMsg(joiner, "presence-room", members+1, info)
	leave := unsubscribeMsg("presence-room")
	out.bytes = 0
	joins := 0
	for b.Loop() {
		joiner.Handle(join)
		joiner.Handle(leave)
		joins++
	}
	b.ReportMetric(float64(out.bytes)/float64(joins), "bytes-to-joiner/op")
}

// BenchmarkPresenceSecondTab10k: another socket of a present user joins a
// 10k-member channel and leaves. Membership does not change, so nothing
// needs encoding again.
func BenchmarkPresenceSecondTab10k(b *testing.B) {
	const members = 10_000
	h, a := newTestHub(b, liftedLimits)
	for i := 0; i < members; i++ {
		s, _ := openCounted(b, h, a)
		s.Handle(presenceSubscribeMsg(s, "presence-room", i, `{"name":"someone"}`))
	}
	tab, _ := openCounted(b, h, a)
	join := presenceSubscribeMsg(tab, "presence-room", 7, `{"name":"someone"}`)
	leave := unsubscribeMsg("presence-room")
	for b.Loop() {
		tab.Handle(join)
		tab.Handle(leave)
	}
}

func BenchmarkPresenceJoin100(b *testing.B) { benchPresenceJoin(b, 100) }
func BenchmarkPresenceJoin10k(b *testing.B) { benchPresenceJoin(b, 10_000) }
