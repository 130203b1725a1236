package main

import (
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/resound/resound/hub"
	"github.com/resound/resound/metrics"
)

// checkObservability validates the keys of this file's concern, naming the
// key at fault.
func (c Config) checkObservability() error {
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("log_format %q: expected text or json", c.LogFormat)
	}
	if c.MetricsPort < 0 || c.MetricsPort > 65535 {
		return fmt.Errorf("metrics_port %d: expected a port number (1-65535), or 0 for no metrics", c.MetricsPort)
	}
	if c.MetricsPort != 0 && c.MetricsPort == c.engineOptions().WithDefaults().Port {
		return fmt.Errorf("metrics_port %d is the public port: metrics need a port of their own", c.MetricsPort)
	}
	return nil
}

// jsonLogs is set once the JSON format is on, so the last words of a failed
// start are JSON too.
var jsonLogs bool

// setUpLogs switches every log line of the process (ours, the engine's,
// the API's) to one JSON object per line when asked: the standard logger
// then writes through slog's JSON handler.
func setUpLogs(format string) {
	if format != "json" {
		return
	}
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	jsonLogs = true
}

// metricsAddr is where metrics are served, or "" when they are off.
func (c Config) metricsAddr() string {
	if c.MetricsPort == 0 {
		return ""
	}
	host := c.MetricsHost
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(c.MetricsPort))
}

// startMetrics serves the registry on the metrics address; a port that
// cannot be bound stops the start with the key named.
func startMetrics(m *metrics.Metrics, addr string) error {
	ln, err := m.Serve(addr)
	if err != nil {
		return fmt.Errorf("metrics_port: cannot serve metrics on %s: %w", addr, err)
	}
	log.Printf("resound: Prometheus metrics on http://%s%s", ln.Addr(), metrics.Path)
	return nil
}

// redacted is the secret's stand-in in the startup summary.
const redacted = "[redacted]"

// redactedCopy is the config with every secret replaced: app secrets, the
// Redis password, a password inside the Redis URL, and what a webhook may
// carry (header values, a URL's password and query).
func (c Config) redactedCopy() Config {
	out := c
	out.Apps = append(out.Apps[:0:0], c.Apps...)
	for i := range out.Apps {
		if out.Apps[i].Secret != "" {
			out.Apps[i].Secret = redacted
		}
		out.Apps[i].Webhooks = append(out.Apps[i].Webhooks[:0:0], c.Apps[i].Webhooks...)
		for j := range out.Apps[i].Webhooks {
			h := &out.Apps[i].Webhooks[j]
			if q := strings.IndexByte(h.URL, '?'); q >= 0 {
				h.URL = h.URL[:q] + "?" + redacted
			}
			h.URL = redactURL(h.URL)
			if len(h.Headers) > 0 {
				headers := make(map[string]string, len(h.Headers))
				for k := range h.Headers {
					headers[k] = redacted
				}
				h.Headers = headers
			}
		}
	}
	if out.Scaling.Password != "" {
		out.Scaling.Password = redacted
	}
	if out.Scaling.URL != "" {
		out.Scaling.URL = redactURL(out.Scaling.URL)
	}
	return out
}

// redactURL hides a URL's password; a URL that does not parse is hidden
// whole, since it may still hold one.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	if u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); !has {
		return raw
	}
	// Built by hand: url.URL would escape the brackets of the marker.
	user := url.User(u.User.Username()).String()
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://" + user + ":" + redacted + "@" + rest
}

// effective fills in the defaults the engine, the API and the apps apply,
// so the summary shows what the node runs with.
func (c Config) effective() Config {
	eo := c.engineOptions().WithDefaults()
	c.Host, c.Port, c.Path = eo.Host, eo.Port, eo.Path
	c.MaxOutboundBytes, c.SocketSendBuffer = eo.MaxOutboundBytes, eo.SocketSendBuffer
	c.MaxTotalConnections = eo.MaxTotalConnections
	seconds := func(d time.Duration) int { return int(d / time.Second) }
	orNone := func(d time.Duration) *int {
		n := max(seconds(d), 0)
		return &n
	}
	c.ShutdownGrace, c.HandshakeTimeout, c.RequestTimeout = seconds(eo.ShutdownGrace), seconds(eo.HandshakeTimeout), seconds(eo.RequestTimeout)
	c.DrainDelay, c.DrainWindow = orNone(eo.DrainDelay), orNone(eo.DrainWindow)
	c.MemoryReturnInterval = orNone(eo.MemoryReturnInterval)
	pin := eo.PinLoops
	c.PinLoops = &pin
	ao := c.apiOptions().WithDefaults()
	c.AuthTimestampWindow = seconds(ao.AuthTimestampWindow)
	c.APIWorkers, c.APIBusWorkers, c.APIQueue = ao.Workers, ao.BusWorkers, ao.Queue
	c.APITimeout = ao.Timeout.Seconds()
	apps := make([]hub.AppConfig, len(c.Apps))
	for i, a := range c.Apps {
		apps[i] = a.WithDefaults()
	}
	c.Apps = apps
	if c.MetricsPort != 0 && c.MetricsHost == "" {
		c.MetricsHost = "127.0.0.1"
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	return c
}

// logSummary writes the effective config, secrets redacted, as one line:
// a JSON object under "config" in the JSON format, JSON text after the
// message in the text format.
func logSummary(c Config) {
	b, err := json.Marshal(c.effective().redactedCopy())
	if err != nil {
		log.Printf("resound: effective config: cannot encode it: %v", err)
		return
	}
	if c.LogFormat == "json" {
		slog.Info("resound: effective config", "config", json.RawMessage(b))
		return
	}
	log.Printf("resound: effective config: %s", b)
}
