package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/resound/resound/webhook"
)

// webhookCollector exports the webhook dispatcher's counters, read at
// scrape time like the node's.
type webhookCollector struct {
	stats        func() webhook.Stats
	posts, drops *prometheus.Desc
}

// WatchWebhooks exports webhook delivery counts (stats is the dispatcher's).
func (m *Metrics) WatchWebhooks(stats func() webhook.Stats) {
	m.reg.MustRegister(&webhookCollector{stats: stats,
		posts: prometheus.NewDesc("resound_webhook_posts_total",
			"Webhook POSTs by outcome: sent (answered 2xx), retried (a try failed and another follows), failed (given up after retry_seconds).",
			[]string{"result"}, nil),
		drops: prometheus.NewDesc("resound_webhook_events_dropped_total",
			"Webhook events dropped, oldest first, from a full queue (queue_size).", nil, nil)})
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.posts; ch <- c.drops }

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.posts, prometheus.CounterValue, float64(s.Sent), "sent")
	ch <- prometheus.MustNewConstMetric(c.posts, prometheus.CounterValue, float64(s.Retried), "retried")
	ch <- prometheus.MustNewConstMetric(c.posts, prometheus.CounterValue, float64(s.Failed), "failed")
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.Dropped))
}
