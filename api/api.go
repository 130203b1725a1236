// Package api answers the Pusher HTTP API and the health checks on the port
// the engine serves. The engine frames each request off its connection and
// hands it, complete, to API.ServeHTTP on an event loop:
//
//   - /up and /ready are answered right there: no queue, no signature, no
//     JSON, no Redis, so a load balancer's probe is never stuck behind a
//     flood of API calls or a stalled Redis;
//   - everything else goes to a bounded pool of workers for the CPU-only
//     part (parsing, signature, JSON, validation);
//   - what then reads or changes cluster state (publishing, which waits for
//     the bus to take the events, and the channel queries) goes to a second
//     bounded pool, so calls waiting on Redis never starve the CPU work.
//
// Every request has a deadline from the moment it is handed over. A full
// queue, a passed deadline or a bus that did not take an event is answered
// 503 with Retry-After and a one-line reason, and logged at most once a
// second per kind.
package api

import (
	"log"
	"time"

	"github.com/resound/resound/hub"
	"github.com/resound/resound/internal/ratelog"
	"github.com/resound/resound/protocol"
	"github.com/resound/resound/webhook"
)

// Server is what the API reads from the engine serving it.
type Server interface {
	// Draining is true once a shutdown began: /ready answers 503.
	Draining() bool
	// OpenConnections counts TCP connections, for /stats.
	OpenConnections() int64
}

// Options configure the API. Zero values take the defaults in comments.
type Options struct {
	// Path is the prefix in front of every route, like Reverb's "path".
	Path string
	// AuthTimestampWindow is how far auth_timestamp may be from now (600 s).
	AuthTimestampWindow time.Duration
	// Workers run the CPU-only part of requests (8).
	Workers int
	// BusWorkers run the part that waits on the bus or cluster state (64).
	BusWorkers int
	// Queue is how many requests may wait for each pool (4096); beyond it
	// requests are answered 503 at once.
	Queue int
	// Timeout bounds a request from hand-over to answer (5 s); past it the
	// answer is 503 and a publish is not delivered.
	Timeout time.Duration
	// ExposeStats serves GET /stats (process memory, for benchmarks).
	ExposeStats bool
	Logger      *log.Logger
	// Observe, when set, receives every answered request (metrics).
	Observe RequestObserver
	// Webhooks reports webhook delivery counts for /stats; nil: none.
	Webhooks func() webhook.Stats
}

// WithDefaults fills in what the zero values stand for (for the startup
// summary of the effective config).
func (o Options) WithDefaults() Options { return o.withDefaults() }

func (o Options) withDefaults() Options {
	if o.AuthTimestampWindow <= 0 {
		o.AuthTimestampWindow = 600 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.BusWorkers <= 0 {
		o.BusWorkers = 64
	}
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	o.Path = protocol.RoutePrefix(o.Path)
	if o.Logger == nil {
		o.Logger = log.Default()
	}
	return o
}

// API answers HTTP requests for the apps of one hub.
type API struct {
	hub  *hub.Hub
	srv  Server
	opts Options
	cpu  *pool
	bus  *pool
	// failures logs 503s, rate-limited: an outage fails every request.
	failures *ratelog.Logger
}

// New starts the API's workers.
func New(h *hub.Hub, srv Server, opts Options) *API {
	opts = opts.withDefaults()
	return &API{
		hub:      h,
		srv:      srv,
		opts:     opts,
		cpu:      newPool(opts.Workers, opts.Queue),
		bus:      newPool(opts.BusWorkers, opts.Queue),
		failures: ratelog.New(opts.Logger, time.Second),
	}
}

// request is one API call on its way through the pools.
type request struct {
	raw      []byte
	reply    func(resp []byte, closeAfter bool)
	deadline time.Time
	close    bool
	// head is the request line as the loop read it, for the failure log.
	head requestHead
}

// ServeHTTP implements engine.HTTPHandler. It runs on an event loop and
// never blocks: health checks are answered here, the rest is queued.
func (a *API) ServeHTTP(raw []byte, reply func(resp []byte, closeAfter bool)) {
	start := time.Now()
	head, ok := parseHead(raw)
	if ok {
		if route := healthRoute(head.path, a.opts.Path); route != "" {
			resp := a.health(route)
			resp.close = head.close
			resp.headOnly = string(head.method) == "HEAD"
			route := routeOf(head.path, a.opts.Path)
			reply(resp.render(), resp.close)
			a.observe(route, resp.status, "", start)
			return
		}
	}
	r := &request{raw: raw, reply: reply, deadline: start.Add(a.opts.Timeout), close: head.close, head: head}
	if !a.cpu.trySubmit(func() { a.serve(r) }) {
		a.answer(r, errorResponse(overloaded("API workers")))
	}
}

// health answers /up and /ready.
func (a *API) health(route string) response {
	if route == "ready" && a.srv.Draining() {
		return errorResponse(fail(503, "Shutting down: this node is draining, send new clients elsewhere"))
	}
	if route == "ready" {
		return jsonResponse([]byte(`{"ready":true}`))
	}
	return jsonResponse([]byte(`{"health":"OK"}`))
}

// answer writes the response; a 503 that asks to retry is logged.
func (a *API) answer(r *request, resp response) {
	if resp.logKind != "" {
		a.failures.Printf(resp.logKind, "api: %d for %q %q: %s", resp.status, r.head.method, r.head.path, firstLine(string(resp.body)))
	}
	resp.close = resp.close || r.close
	// The path may live in the request's buffer, which the reply releases.
	route := routeOf(r.head.path, a.opts.Path)
	r.reply(resp.render(), resp.close)
	// The deadline is the arrival plus the timeout.
	a.observe(route, resp.status, resp.logKind, r.deadline.Add(-a.opts.Timeout))
}
