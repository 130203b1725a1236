package main

import (
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestClusterMetricsCountRedisFailures: with Redis behind the bus, a publish
// is timed as taken; once Redis is gone the refusals and the failed Redis calls
// are counted. The startup summary hides the password of the Redis URL.
func TestClusterMetricsCountRedisFailures(t *testing.T) {
	r := startRedis(t, "--requirepass", "redis-pass-in-url")
	mport := freePort(t)
	maddr := fmt.Sprintf("127.0.0.1:%d", mport)
	config := fmt.Sprintf(`{"api_timeout":2,"apps":%s,"scaling":%s}`, defaultAppList, scalingBlock(r, "metrics", 10))
	s := startServer(t, config, "--metrics-port", fmt.Sprint(mport))
	sub := dial(t, s)
	sub.subscribe("news")
	triggerAs(t, app1, s, "news", "before", "1", "")
	sub.expect("before")
	waitMetrics(t, maddr, "the publish taken by Redis", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "resound_bus_publish_duration_seconds", "result", "ok") == 1 &&
			value(f, "resound_fanout_duration_seconds") >= 1
	})

	r.stop()
	status, body, err := apiTry(app1, s, "POST", "/apps/app-1/events", nil, `{"name":"during","channel":"news","data":"2"}`)
	// 503 once the node knows Redis is gone; 504 when the publish went out
	// on the connection Redis just dropped (EOF: Redis may have run it).
	if err != nil || (status != 503 && status != 504) {
		t.Fatalf("publish with Redis stopped: %d %q %v", status, body, err)
	}
	waitMetrics(t, maddr, "the failed publish and Redis errors", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "resound_bus_publish_duration_seconds", "result", "error") >= 1 &&
			value(f, "resound_redis_errors_total", "op", "state") >= 1 &&
			value(f, "resound_api_request_duration_seconds", "route", "/apps/{app_id}/events", "status", fmt.Sprint(status)) >= 1
	})
	logs := s.logs.String()
	if strings.Contains(logs, "redis-pass-in-url") || !strings.Contains(logs, "[redacted]@127.0.0.1") {
		t.Errorf("the summary must show the Redis URL with its password redacted:\n%s", logs)
	}
}
