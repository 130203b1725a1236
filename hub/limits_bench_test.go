package hub

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkSubscribeManyChannels subscribes one socket to b.N public
// channels: the per-subscribe cost must not grow with the socket's count.
func BenchmarkSubscribeManyChannels(b *testing.B) {
	h, a := newTestHub(b, AppConfig{})
	s, out := openSocket(b, h, a)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = subscribeMsg("c" + strconv.Itoa(i))
	}
	b.ResetTimer()
	for i := range msgs {
		s.Handle(msgs[i])
		out.reset()
	}
}

// BenchmarkSubscribe100kChannels reports the loop time one socket takes to
// subscribe to 100k public channels.
func BenchmarkSubscribe100kChannels(b *testing.B) {
	const n = 100_000
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = subscribeMsg("c" + strconv.Itoa(i))
	}
	for b.Loop() {
		b.StopTimer()
		h, a := newTestHub(b, AppConfig{})
		s, out := openSocket(b, h, a)
		b.StartTimer()
		start := time.Now()
		for i := range msgs {
			s.Handle(msgs[i])
			out.reset()
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/100k-subscribes")
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkPresenceJoin10k measures one new user joining a presence channel
// that already has 10k members (and leaving again, so the size holds).
func BenchmarkPresenceJoin10k(b *testing.B) {
	const members = 10_000
	h, a := newTestHub(b, AppConfig{})
	info := `{"name":"A user with a longish display name","avatar":"https://example.com/avatars/12345.png"}`
	for i := 0; i < members; i++ {
		s, _ := openSocket(b, h, a)
		s.Handle(presenceSubscribeMsg(s, "presence-room", i, info))
	}
	joiner, out := openSocket(b, h, a)
	join := presenceSubscribeMsg(joiner, "presence-room", members+1, info)
	leave := unsubscribeMsg("presence-room")
	b.ResetTimer()
	for b.Loop() {
		joiner.Handle(join)
		joiner.Handle(leave)
		out.reset()
	}
}
