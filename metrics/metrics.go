// Package metrics exports a node's counters to Prometheus on a listener of
// its own, apart from the event loops' port.
//
// The event loops never call the Prometheus client per frame: they bump
// atomic counters (per loop where every frame passes) that a Collector
// reads when Prometheus scrapes. Only what needs a histogram (API latency,
// fan-out and bus publish durations) is observed as it happens, once per
// request or per event, never per socket.
package metrics

import (
	"errors"
	"log"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/resound/resound/engine"
	"github.com/resound/resound/hub"
)

// Path is where the metrics are served.
const Path = "/metrics"

// Metrics is one node's registry. It is a hub.Observer, and its
// ObserveRequest is an API RequestObserver.
type Metrics struct {
	reg        *prometheus.Registry
	api        *prometheus.HistogramVec
	fanOut     prometheus.Histogram
	busPublish *prometheus.HistogramVec
	busOK      prometheus.Observer
	busFailed  prometheus.Observer
}

// New makes the registry with the Go runtime and process collectors and
// the histograms; Watch adds the node's counters once its server exists.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.api = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "resound_api_request_duration_seconds",
		Help:    "HTTP API requests from arrival to answer, by route template and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 11),
	}, []string{"route", "status"})
	m.fanOut = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "resound_fanout_duration_seconds",
		Help:    "From this node taking an event off the bus to the last event loop having written it to its last subscriber.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 12),
	})
	m.busPublish = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "resound_bus_publish_duration_seconds",
		Help:    "How long the bus took to take an HTTP API publish (Redis XADD in a cluster), by result.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
	}, []string{"result"})
	m.busOK = m.busPublish.WithLabelValues("ok")
	m.busFailed = m.busPublish.WithLabelValues("error")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.api, m.fanOut, m.busPublish,
	)
	return m
}

// Register adds another subsystem's collector (webhook delivery counters
// belong here) to the registry served on /metrics.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Watch exports the counters of srv (its hub's and its engine's).
func (m *Metrics) Watch(srv *engine.Server) { m.reg.MustRegister(newNodeCollector(srv)) }

// FannedOut implements hub.Observer.
func (m *Metrics) FannedOut(d time.Duration) { m.fanOut.Observe(d.Seconds()) }

// BusPublished implements hub.Observer.
func (m *Metrics) BusPublished(d time.Duration, err error) {
	if err != nil {
		m.busFailed.Observe(d.Seconds())
		return
	}
	m.busOK.Observe(d.Seconds())
}

// ObserveRequest is the API's RequestObserver.
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	m.api.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

var _ hub.Observer = (*Metrics)(nil)

// Serve listens on addr and serves /metrics on its own goroutine until the
// process ends. It returns the listener (for its address) or why it could
// not listen.
func (m *Metrics) Serve(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Not found: metrics are served on "+Path, http.StatusNotFound)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// The node keeps serving its sockets; only scrapes fail.
			log.Printf("metrics: serving %s stopped: %v", ln.Addr(), err)
		}
	}()
	return ln, nil
}
