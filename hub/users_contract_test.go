package hub

import (
	"context"
	"reflect"
	"testing"
)

// quietJoinContract: JoinQuiet is Join without the list: a user new to the
// key is announced once, in version order with Join and Leave, whatever
// node the sockets are on.
func quietJoinContract(t *testing.T, nodes int, newPresence func(t *testing.T) Presence) {
	ctx := context.Background()
	ps, logs := startPresences(t, nodes, newPresence)
	first, last := ps[0], ps[nodes-1]
	if _, err := first.Join(ctx, "app", usersChannel, "a", `{"user_id":"a"}`, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Presence{first, last} {
		if err := p.(quietJoiner).JoinQuiet(ctx, "app", usersChannel, "b", `{"user_id":"b"}`); err != nil {
			t.Fatal(err)
		}
	}
	if err := last.(quietJoiner).JoinQuiet(ctx, "app", usersChannel, "a", `{"user_id":"a"}`); err != nil {
		t.Fatal(err)
	}
	list, err := last.Members(ctx, "app", usersChannel)
	if err != nil || len(list.Members) != 2 {
		t.Fatalf("members %v, %v", list.Members, err)
	}
	for _, p := range []Presence{first, last} {
		if _, err := p.Leave(ctx, "app", usersChannel, "b"); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range logs {
		got := l.waitNews(t, 3)
		if d := describeNews(got); !reflect.DeepEqual(d, []string{"+a", "+b", "-b"}) {
			t.Fatalf("node %d: news %v", i, d)
		}
		if !(got[0].Version < got[1].Version && got[1].Version < got[2].Version) {
			t.Fatalf("node %d: versions out of order: %+v", i, got)
		}
	}
}

func TestMemoryPresenceJoinQuiet(t *testing.T) {
	quietJoinContract(t, 1, func(t *testing.T) Presence { return NewMemoryPresence() })
}

func TestRedisPresenceJoinQuiet(t *testing.T) {
	addr := startRedis(t)
	quietJoinContract(t, 3, func(t *testing.T) Presence {
		return NewRedisPresence(redisConnFor(t, addr, 0), []string{"app"})
	})
}
