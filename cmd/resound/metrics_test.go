package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	httpapi "github.com/resound/resound/api"
)

// scrape reads /metrics with Prometheus's own text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scraping %s: status %d", addr, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	return families
}

// value sums the samples of a family whose labels include every pair of
// want (a histogram counts its observations).
func value(families map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	sum := 0.0
	for _, m := range f.Metric {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// labelValues lists the values one label takes in a family.
func labelValues(families map[string]*dto.MetricFamily, name, label string) []string {
	var out []string
	if f := families[name]; f != nil {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

// waitMetrics scrapes until ok accepts, or fails after a generous deadline.
func waitMetrics(t *testing.T, addr, what string, ok func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		f := scrape(t, addr)
		if ok(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMetricsCountWhatHappens(t *testing.T) {
	mport := freePort(t)
	maddr := fmt.Sprintf("127.0.0.1:%d", mport)
	s := startServer(t, `{"apps":[{"id":"app-1","key":"key-1","secret":"secret-1","allowed_origins":["*"],"max_channels_per_connection":2}]}`,
		"--metrics-port", fmt.Sprint(mport))
	before := scrape(t, maddr)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "resound_connections"} {
		if before[name] == nil {
			t.Errorf("%s missing from the first scrape", name)
		}
	}
	if got := value(before, "resound_connections_opened_total", "app", "app-1"); got != 0 {
		t.Fatalf("opened before any socket: %v", got)
	}

	a, b, c := dial(t, s), dial(t, s), dial(t, s)
	a.subscribe("news")
	b.subscribe("news")
	b.subscribe("private-room")
	// A third channel is over max_channels_per_connection (2).
	b.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "cache-x"}})
	b.expect("pusher:subscription_error")
	member := `{"user_id":"u1","user_info":{}}`
	c.join("presence-lobby", member)
	c.send(map[string]any{"event": "client-typing", "channel": "presence-lobby", "data": map[string]any{}})

	mid := waitMetrics(t, maddr, "the subscriptions and the client event", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "resound_client_events_total", "app", "app-1") == 1
	})
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"resound_connections", []string{"app", "app-1"}, 3},
		{"resound_connections_opened_total", []string{"app", "app-1"}, 3},
		{"resound_subscriptions", []string{"app", "app-1", "type", "public"}, 2},
		{"resound_subscriptions", []string{"app", "app-1", "type", "private"}, 1},
		{"resound_subscriptions", []string{"app", "app-1", "type", "presence"}, 1},
		{"resound_channels", []string{"app", "app-1", "type", "public"}, 1},
		{"resound_channels", []string{"app", "app-1", "type", "cache"}, 0},
		{"resound_presence_members", []string{"app", "app-1"}, 1},
		{"resound_refusals_total", []string{"kind", "max_channels_per_connection"}, 1},
		{"resound_refusals_total", []string{"kind", "slow_consumer"}, 0},
	}
	for _, c := range checks {
		if got := value(mid, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	trigger(t, s, "news", "flash", `{"n":1}`, "")
	a.expect("flash")
	b.expect("flash")
	if status, _ := get(t, "http://"+s.addr+"/definitely-not-a-route/42?x=1"); status != 404 {
		t.Fatalf("unknown route: status %d, want 404", status)
	}
	// a says goodbye with 1000; b just drops its TCP connection.
	a.writeFrame(0x8, true, binary.BigEndian.AppendUint16(nil, 1000))
	a.expectClose()
	b.conn.Close()

	after := waitMetrics(t, maddr, "both closes", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "resound_connections_closed_total", "code", "1000") == 1 &&
			value(f, "resound_connections_closed_total", "code", "1006") == 1
	})
	if got := value(after, "resound_connections", "app", "app-1"); got != 1 {
		t.Errorf("connections after two closes: %v, want 1", got)
	}
	if got := value(after, "resound_subscriptions", "app", "app-1", "type", "public"); got != 0 {
		t.Errorf("public subscriptions after their sockets closed: %v, want 0", got)
	}
	// The publish reached two sockets; the presence join's member list and
	// the like are direct sends, not fan-out.
	if got := value(after, "resound_deliveries_total"); got < 2 {
		t.Errorf("deliveries: %v, want at least 2", got)
	}
	if got := value(after, "resound_fanout_duration_seconds"); got < 1 {
		t.Errorf("fan-out durations observed: %v, want at least 1", got)
	}
	if got := value(after, "resound_bus_publish_duration_seconds", "result", "ok"); got != 1 {
		t.Errorf("bus publishes: %v, want 1", got)
	}
	for _, name := range []string{"resound_websocket_received_bytes_total", "resound_websocket_sent_bytes_total"} {
		if got, was := value(after, name), value(before, name); got <= was {
			t.Errorf("%s did not grow: %v then %v", name, was, got)
		}
	}
	if got := value(after, "resound_api_request_duration_seconds", "route", "/apps/{app_id}/events", "status", "200"); got != 1 {
		t.Errorf("API events requests answered 200: %v, want 1", got)
	}
	if got := value(after, "resound_api_request_duration_seconds", "route", "other", "status", "404"); got != 1 {
		t.Errorf("unknown-route requests: %v, want 1 under route=\"other\"", got)
	}
	known := map[string]bool{}
	for _, r := range httpapi.Routes {
		known[r] = true
	}
	for _, r := range labelValues(after, "resound_api_request_duration_seconds", "route") {
		if !known[r] || strings.Contains(r, "definitely") {
			t.Errorf("route label %q is not one of the route templates", r)
		}
	}
	if status, _ := get(t, "http://"+maddr+"/nope"); status != 404 {
		t.Errorf("metrics listener, unknown path: %d, want 404", status)
	}
	checkDashboard(t, after)
}

// checkDashboard requires every metric the Grafana dashboard queries to be
// one the node exports, so a renamed metric cannot leave a blank panel.
func checkDashboard(t *testing.T, families map[string]*dto.MetricFamily) {
	t.Helper()
	b, err := os.ReadFile("../../deploy/grafana/resound.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	names := regexp.MustCompile(`\b(?:resound|go|process)_[a-z_]+`)
	queried := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range names.FindAllString(target.Expr, -1) {
				queried++
				base := name
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if trimmed := strings.TrimSuffix(name, suffix); trimmed != name && families[trimmed].GetType() == dto.MetricType_HISTOGRAM {
						base = trimmed
					}
				}
				if families[base] == nil {
					t.Errorf("the dashboard queries %s, which the node does not export", name)
				}
			}
		}
	}
	if queried < 20 {
		t.Errorf("the dashboard queries only %d metrics", queried)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}
