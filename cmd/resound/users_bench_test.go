package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSigninThroughput measures sign-ins: N sockets sign in at once (each
// with a watchlist of RESOUND_SIGNIN_WATCH distinct users who stay offline,
// 0 by default), and the
// server's heap is read before and after. It is a measurement, skipped
// unless the variable is set; RESOUND_SIGNIN_REDIS=1 runs one node with
// scaling over a real redis-server.
//
//	RESOUND_SIGNIN_BENCH=5000 flock /tmp/resound-heavy.lock go test -count=1 -run TestSigninThroughput -v ./cmd/resound
func TestSigninThroughput(t *testing.T) {
	var n, watch int
	if _, err := fmt.Sscan(os.Getenv("RESOUND_SIGNIN_BENCH"), &n); err != nil || n <= 0 {
		t.Skip("set RESOUND_SIGNIN_BENCH=N to measure N sign-ins")
	}
	_, _ = fmt.Sscan(os.Getenv("RESOUND_SIGNIN_WATCH"), &watch)
	apps := `[{"id":"app-1","key":"key-1","secret":"secret-1","max_connections":0}]`
	config := `{"expose_stats":true,"apps":` + apps + `}`
	mode := "memory"
	if os.Getenv("RESOUND_SIGNIN_REDIS") == "1" {
		r := startRedis(t)
		config = fmt.Sprintf(`{"expose_stats":true,"apps":%s,"scaling":%s}`, apps, scalingBlock(r, "resound", 10))
		mode = "redis"
	}
	s := startServer(t, config)
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, s)
	}
	before := heapInuse(t, s, true)
	datas := make([]string, n)
	for i := range clients {
		var w []string
		for j := 1; j <= watch; j++ {
			// Users who never sign in: this measures what a watchlist
			// costs to hold, not the online events it would bring.
			w = append(w, fmt.Sprintf(`"away-%d-%d"`, i, j))
		}
		datas[i] = fmt.Sprintf(`{"id":"u%d","user_info":{"name":"user %d"},"watchlist":[%s]}`, i, i, strings.Join(w, ","))
	}
	start := time.Now()
	for i, c := range clients {
		c.signinWith(signinAuth(c.socketID, datas[i]), datas[i])
	}
	sent := time.Since(start)
	for _, c := range clients {
		for {
			if m := c.next(60 * time.Second); m.Event == "pusher:signin_success" {
				break
			}
		}
	}
	took := time.Since(start)
	after := heapInuse(t, s, true)
	t.Logf("%s: %d sign-ins (watchlist %d): sent in %v, all signin_success after %v (%.0f/s); heap %+.0f bytes per signed-in socket (%d -> %d)",
		mode, n, watch, sent.Round(time.Millisecond), took.Round(time.Millisecond), float64(n)/took.Seconds(),
		float64(after-before)/float64(n), before, after)
}
