package metrics

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/resound/resound/engine"
	"github.com/resound/resound/hub"
)

// TestServeExportsEveryKindAndOnlyMetrics serves a registry for a node that
// is not running: every refusal kind and Redis op is there from the start
// (so rates work from zero), and the listener answers nothing but /metrics.
func TestServeExportsEveryKindAndOnlyMetrics(t *testing.T) {
	srv, err := engine.New([]hub.AppConfig{{ID: "a", Key: "k", Secret: "s"}}, engine.Options{Loops: 1}, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Hub().Close()
	m := New()
	m.Watch(srv)
	m.ObserveRequest("/apps/{app_id}/events", 200, 3*time.Millisecond)
	m.FannedOut(time.Millisecond)
	ln, err := m.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + Path)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	kinds := len(srv.Hub().Snapshot().Refusals)
	if n := len(families["resound_refusals_total"].GetMetric()); n != kinds {
		t.Errorf("refusal series: %d, want one per kind (%d)", n, kinds)
	}
	if n := len(families["resound_subscriptions"].GetMetric()); n != hub.NumKinds {
		t.Errorf("subscription series for one app: %d, want one per channel type (%d)", n, hub.NumKinds)
	}
	if c := families["resound_api_request_duration_seconds"].GetMetric(); len(c) != 1 || c[0].GetHistogram().GetSampleCount() != 1 {
		t.Errorf("API histogram: %v", c)
	}
	if families["resound_fanout_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount() != 1 {
		t.Error("the fan-out observation is missing")
	}
	if families["go_goroutines"] == nil || families["process_cpu_seconds_total"] == nil {
		t.Error("the Go runtime or process collector is missing")
	}
	other, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	other.Body.Close()
	if other.StatusCode != 404 {
		t.Errorf("GET /: %d, want 404", other.StatusCode)
	}
}
