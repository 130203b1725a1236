package webhook

import (
	"context"
	"testing"
	"time"
)

// Removals held in one go keep their order when the sequence behind the
// held scores sits just below a multiple of 1000 (a counter taken modulo
// 1000 wrapped there and let channel_vacated overtake member_removed).
func TestRedisHeldRemovalsKeepTheirOrderAcrossTheSequenceWrap(t *testing.T) {
	ctx := context.Background()
	ss, _ := redisStores(t, time.Minute)(t, 1, 100)
	r := ss[0].(*RedisStore)
	for _, last := range []string{"998", "999"} {
		if err := r.client.Do(ctx, r.client.B().Hset().Key(r.heldEvents).FieldValue().FieldValue("\x00seq", last).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		err := r.Add(ctx, []Event{
			{App: "a", Name: MemberRemoved, Channel: "presence-" + last, UserID: "u"},
			{App: "a", Name: ChannelVacated, Channel: "presence-" + last},
		}, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		got := takeAll(t, r, 2, 5*time.Second)
		want := "member_removed:presence-" + last + "u channel_vacated:presence-" + last + " "
		if names(got) != want {
			t.Fatalf("after sequence %s: promoted %q, want %q", last, names(got), want)
		}
		_ = r.Done(ctx, got)
	}
}
