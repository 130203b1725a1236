package main

import (
	"fmt"
	"os"
	"time"

	"github.com/resound/resound/hub"
	"github.com/resound/resound/webhook"
)

// WebhookOptions tune webhook delivery for every app (see README.md);
// each app lists its webhooks under "webhooks" in its own config.
type WebhookOptions struct {
	// DelayMs holds member_removed and channel_vacated so a reload does not
	// flap (3000; -1: send at once).
	DelayMs int `json:"delay_ms"`
	// BatchSize: most events per POST (50).
	BatchSize int `json:"batch_size"`
	// BatchMs: how long the first event waits for others (100).
	BatchMs int `json:"batch_ms"`
	// Workers: POSTs in flight at once (8).
	Workers int `json:"workers"`
	// QueueSize: events waiting before the oldest is dropped (10000).
	QueueSize int `json:"queue_size"`
	// TimeoutMs bounds one POST (5000).
	TimeoutMs int `json:"timeout_ms"`
	// RetrySeconds: how long a failing batch is retried (60).
	RetrySeconds int `json:"retry_seconds"`
	// RetryMinMs and RetryMaxMs bound the backoff between tries (200, 5000).
	RetryMinMs int `json:"retry_min_ms"`
	RetryMaxMs int `json:"retry_max_ms"`
	// ClaimAfterMs: with scaling, how long a batch taken by a node that
	// went quiet waits before another node sends it (2 x timeout +
	// retry_max + 1000).
	ClaimAfterMs int `json:"claim_after_ms"`
}

func (w WebhookOptions) options() webhook.Options {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return webhook.Options{
		Delay:     ms(w.DelayMs),
		BatchSize: w.BatchSize, BatchWait: ms(w.BatchMs), Workers: w.Workers, QueueSize: w.QueueSize,
		Timeout: ms(w.TimeoutMs), RetryFor: time.Duration(w.RetrySeconds) * time.Second,
		RetryMin: ms(w.RetryMinMs), RetryMax: ms(w.RetryMaxMs),
	}.WithDefaults()
}

// startWebhooks builds delivery for the apps that have webhooks: queued in
// Redis when scaling is on (conn), in memory otherwise. It returns nil when
// no app has any.
func startWebhooks(cfg Config, conn *hub.RedisConn) (*webhook.Dispatcher, error) {
	var apps []webhook.App
	for _, a := range cfg.Apps {
		for _, h := range a.Webhooks {
			if err := h.Validate(); err != nil {
				return nil, fmt.Errorf("app %s: %w", a.ID, err)
			}
		}
		if len(a.Webhooks) > 0 {
			apps = append(apps, webhook.App{ID: a.ID, Key: a.Key, Secret: a.Secret, Hooks: a.Webhooks})
		}
	}
	if len(apps) == 0 {
		return nil, nil
	}
	opts := cfg.Webhooks.options()
	var d *webhook.Dispatcher
	drop := func(n int) { d.Dropped(n) }
	var store webhook.Store
	if conn != nil {
		claim := time.Duration(cfg.Webhooks.ClaimAfterMs) * time.Millisecond
		if claim <= 0 {
			claim = 2*opts.Timeout + opts.RetryMax + time.Second
		}
		client, prefix, release := conn.Share()
		host, _ := os.Hostname()
		store = webhook.NewRedisStore(client, prefix, host+"-"+randomHex(4), opts.QueueSize, claim, release, drop)
	} else {
		store = webhook.NewMemoryStore(opts.QueueSize, drop)
	}
	d = webhook.New(apps, store, opts)
	d.Start()
	return d, nil
}
