package main

import (
	"strings"
	"testing"
	"time"
)

// TestClusterWebhooksLeavesDuringAnOutageAreSentAfterIt: a presence
// channel's last subscribers leave while Redis hangs (SIGSTOP), so the
// node's leaves never reach it. Once Redis answers, the node's resync
// finds the channel empty: the receiver gets both member_removed and
// channel_vacated, each exactly once.
func TestClusterWebhooksLeavesDuringAnOutageAreSentAfterIt(t *testing.T) {
	r := startRedis(t)
	hooks := newHookReceiver(t)
	nodes := startCluster(t, 2, clusterWebhookConfig(r, 3, hooks.url, ""))
	const ch = "presence-outage"
	leaver, watcher := dial(t, nodes[0]), dial(t, nodes[0])
	leaver.join(ch, `{"user_id":"leaver"}`)
	watcher.join(ch, `{"user_id":"watcher"}`)
	leaver.expect("pusher_internal:member_added")
	hooks.waitFor("member_added " + ch + " watcher")

	logged := len(nodes[0].logs.String())
	r.pause()
	paused := true
	defer func() {
		if paused {
			r.resume()
		}
	}()
	// Once the node knows Redis is away, its leaves fail at once.
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(nodes[0].logs.String()[logged:], "failed"); {
		if time.Now().After(deadline) {
			t.Fatal("node 0 never noticed Redis hanging")
		}
		time.Sleep(20 * time.Millisecond)
	}
	leaver.conn.Close()
	// Told from the node's own view: its leave did not reach Redis.
	watcher.expect("pusher_internal:member_removed")
	watcher.conn.Close()
	r.resume()
	paused = false

	hooks.waitFor("channel_vacated " + ch)
	// Past the delay, a second copy would have been queued before this marker.
	time.Sleep(500 * time.Millisecond)
	got := marker(t, hooks, nodes[1], "after")
	count := map[string]int{}
	vacatedAt, lastRemovedAt := -1, -1
	for i, s := range got {
		count[s]++
		switch {
		case s == "channel_vacated "+ch:
			vacatedAt = i
		case strings.HasPrefix(s, "member_removed "+ch):
			lastRemovedAt = i
		}
	}
	for _, want := range []string{"channel_occupied " + ch, "member_added " + ch + " leaver", "member_added " + ch + " watcher",
		"member_removed " + ch + " leaver", "member_removed " + ch + " watcher", "channel_vacated " + ch} {
		if count[want] != 1 {
			t.Fatalf("%q arrived %d times, want once; got %q", want, count[want], got)
		}
	}
	if vacatedAt < lastRemovedAt {
		t.Fatalf("channel_vacated came before a member_removed: %q", got)
	}
}

// TestClusterWebhooksRedisRestartedEmptyAnnouncesNothing: Redis restarts
// with no data and the nodes register their sockets again; the channels
// and members they bring back were announced before, so no webhook says
// they are new.
func TestClusterWebhooksRedisRestartedEmptyAnnouncesNothing(t *testing.T) {
	r := startRedis(t)
	hooks := newHookReceiver(t)
	nodes := startCluster(t, 2, clusterWebhookConfig(r, 3, hooks.url, ""))
	const ch = "presence-kept"
	a, b := dial(t, nodes[0]), dial(t, nodes[1])
	a.join(ch, `{"user_id":"a"}`)
	b.join(ch, `{"user_id":"b"}`)
	hooks.waitFor("member_added " + ch + " b")
	logged := []int{len(nodes[0].logs.String()), len(nodes[1].logs.String())}
	r.stop()
	r.start()
	for i, n := range nodes {
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(n.logs.String()[logged[i]:], "presence reconciled"); {
			if time.Now().After(deadline) {
				t.Fatalf("node %d never resynced after Redis restarted", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	got := marker(t, hooks, nodes[1], "after")
	want := []string{"channel_occupied " + ch, "member_added " + ch + " a", "member_added " + ch + " b", "channel_occupied cache-after", "cache_miss cache-after"}
	if !sameEvents(got, want) {
		t.Fatalf("after Redis restarted empty:\n got %q\nwant %q", got, want)
	}
}
