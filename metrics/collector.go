package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/resound/resound/engine"
	"github.com/resound/resound/hub"
	"github.com/resound/resound/protocol"
)

// nodeCollector turns the hub's and engine's counters into metrics at
// scrape time.
type nodeCollector struct {
	srv *engine.Server

	connections, opened, closed                 *prometheus.Desc
	channels, subscriptions, presenceMembers    *prometheus.Desc
	clientEvents, deliveries, bytesIn, bytesOut *prometheus.Desc
	refusals, redisErrors                       *prometheus.Desc
}

func newNodeCollector(srv *engine.Server) *nodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &nodeCollector{
		srv:             srv,
		connections:     d("resound_connections", "WebSocket connections open now, by app.", "app"),
		opened:          d("resound_connections_opened_total", "WebSocket connections admitted to an app.", "app"),
		closed:          d("resound_connections_closed_total", "Admitted WebSocket connections that ended, by the close code sent or received (1006: none, 1005: a close frame without code, other: a code only a client would choose).", "code"),
		channels:        d("resound_channels", "Channels with a subscriber on this node, by app and type.", "app", "type"),
		subscriptions:   d("resound_subscriptions", "Subscriptions on this node, by app and channel type.", "app", "type"),
		presenceMembers: d("resound_presence_members", "Users with a socket on this node, summed over the app's presence channels.", "app"),
		clientEvents:    d("resound_client_events_total", "Client events (whispers) accepted from sockets, by app.", "app"),
		deliveries:      d("resound_deliveries_total", "Event frames the fan-out handed to sockets (one per socket per event)."),
		bytesIn:         d("resound_websocket_received_bytes_total", "WebSocket frame bytes received from sockets."),
		bytesOut:        d("resound_websocket_sent_bytes_total", "WebSocket frame bytes handed to sockets for sending."),
		refusals:        d("resound_refusals_total", "Things a limit turned away, by limit (slow_consumer: sockets cut off over max_outbound_bytes).", "kind"),
		redisErrors:     d("resound_redis_errors_total", "Redis calls that failed, by part (state: presence, occupancy, heartbeats; bus_*: the event stream).", "op"),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.opened, c.closed, c.channels, c.subscriptions,
		c.presenceMembers, c.clientEvents, c.deliveries, c.bytesIn, c.bytesOut, c.refusals, c.redisErrors} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	snap := c.srv.Hub().Snapshot()
	for _, a := range snap.Apps {
		gauge(c.connections, float64(a.Connections), a.ID)
		counter(c.opened, float64(a.Opened), a.ID)
		counter(c.clientEvents, float64(a.ClientEvents), a.ID)
		gauge(c.presenceMembers, float64(a.PresenceMembers), a.ID)
		for k := 0; k < hub.NumKinds; k++ {
			kind := hub.KindName(protocol.Kind(k))
			gauge(c.channels, float64(a.Channels[k]), a.ID, kind)
			gauge(c.subscriptions, float64(a.Subscriptions[k]), a.ID, kind)
		}
	}
	counter(c.deliveries, float64(snap.Deliveries))
	for i, n := range snap.Refusals {
		counter(c.refusals, float64(n), hub.RefusalName(i))
	}
	for i, n := range snap.RedisErrors {
		counter(c.redisErrors, float64(n), hub.RedisOpName(i))
	}
	io := c.srv.IOStats()
	counter(c.bytesIn, float64(io.BytesIn))
	counter(c.bytesOut, float64(io.BytesOut))
	for _, cc := range io.Closed {
		counter(c.closed, float64(cc.Count), cc.Code)
	}
}
