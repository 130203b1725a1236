package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	httpapi "github.com/resound/resound/api"
	"github.com/resound/resound/engine"
	"github.com/resound/resound/hub"
)

// Config is the whole configuration file (JSON). Every field is optional;
// defaults are documented in README.md and on the fields of hub.AppConfig.
type Config struct {
	Host  string `json:"host"`  // "0.0.0.0"
	Port  int    `json:"port"`  // 8080
	Path  string `json:"path"`  // route prefix, ""
	Debug bool   `json:"debug"` // log every connection, subscription and message
	// MaxOutboundBytes: unsent bytes a socket may hold before it is cut off.
	MaxOutboundBytes int `json:"max_outbound_bytes"`
	// SocketSendBuffer: SO_SNDBUF per connection in bytes (131072; -1: kernel autotuning).
	SocketSendBuffer int `json:"socket_send_buffer"`
	// AuthTimestampWindow: seconds auth_timestamp may be from now (600).
	AuthTimestampWindow int `json:"auth_timestamp_window"`
	// ShutdownGrace: seconds closed sockets may take to go at the end of a
	// drain (5).
	ShutdownGrace int `json:"shutdown_grace"`
	// MaxTotalConnections caps every TCP connection; the excess gets 503
	// (0: the open-file limit minus a reserve).
	MaxTotalConnections int `json:"max_total_connections"`
	// HandshakeTimeout: seconds a new connection has to send its first
	// complete request (5).
	HandshakeTimeout int `json:"handshake_timeout"`
	// DrainDelay: seconds the node keeps serving with /ready at 503 after
	// SIGTERM (5; 0: none). Unset and 0 differ, hence the pointers.
	DrainDelay *int `json:"drain_delay"`
	// DrainWindow: seconds over which the 4200 closes are spread (10; 0:
	// all at once).
	DrainWindow *int `json:"drain_window"`
	// MemoryReturnInterval: after a burst of connections, one garbage
	// collection returns free memory to the OS, at most once per this many
	// seconds (10; 0: never).
	MemoryReturnInterval *int `json:"memory_return_interval"`
	// RequestTimeout: seconds an HTTP request may take to arrive (10).
	RequestTimeout int `json:"request_timeout"`
	// APIWorkers, APIBusWorkers, APIQueue, APITimeout size the HTTP API's
	// pools and bound each call (see httpapi.Options for the defaults).
	APIWorkers    int     `json:"api_workers"`
	APIBusWorkers int     `json:"api_bus_workers"`
	APIQueue      int     `json:"api_queue"`
	APITimeout    float64 `json:"api_timeout"`
	ExposeStats   bool    `json:"expose_stats"`
	// PinLoops: false leaves the event loops' placement on CPUs to the
	// kernel (true: one loop per CPU, each bound to its own).
	PinLoops *bool `json:"pin_loops"`
	// Compression: false turns permessage-deflate off for every app (true;
	// each app can also turn it off with its own "compression").
	Compression *bool `json:"compression"`
	// TLSCertFile and TLSKeyFile (PEM) turn the port into wss:// and
	// https:// (both empty: plain). An empty key file reads the key from
	// the certificate file. Reloaded on SIGHUP.
	TLSCertFile string `json:"tls_cert_file"`
	TLSKeyFile  string `json:"tls_key_file"`
	// MetricsHost and MetricsPort: where Prometheus metrics are served on
	// /metrics, apart from the public port ("127.0.0.1"; port 0: off).
	MetricsHost string `json:"metrics_host"`
	MetricsPort int    `json:"metrics_port"`
	// LogFormat is "text" (the default) or "json" (one object per line).
	LogFormat string          `json:"log_format"`
	Apps      []hub.AppConfig `json:"apps"`
	// Scaling runs several nodes as one over Redis (off by default).
	Scaling hub.RedisConfig `json:"scaling"`
	// Webhooks tunes delivery of the apps' webhooks.
	Webhooks WebhookOptions `json:"webhooks"`
}

// loadConfig reads the config file (if any), then applies Reverb's
// variables from the process environment and, where it does not set them,
// from the Laravel .env at envFile (if any), so an app's own .env works
// unchanged.
func loadConfig(path, envFile string, lookupEnv func(string) (string, bool)) (Config, error) {
	var c Config
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config %s: %w (see README.md for the keys)", path, err)
		}
	}
	env, err := readEnvFile(envFile)
	if err != nil {
		return c, err
	}
	env.lookup = lookupEnv
	if err := applyEnv(&c, env); err != nil {
		return c, err
	}
	return c, env.checkDollars()
}

// applyEnv reads the variables config/reverb.php reads. REVERB_HOST and
// REVERB_PORT are where Laravel's broadcaster and browsers reach the server
// (often a proxy on 443), not where it binds, so they are not read.
func applyEnv(c *Config, env envVars) error {
	env.setString("REVERB_SERVER_HOST", &c.Host)
	if err := env.setPort("REVERB_SERVER_PORT", &c.Port); err != nil {
		return err
	}
	env.setString("REVERB_SERVER_PATH", &c.Path)
	// Stock config/reverb.php reads no TLS variables (its options.tls
	// takes PHP's local_cert and local_pk); these are the same two
	// settings under Reverb-style names.
	env.setString("REVERB_TLS_CERT", &c.TLSCertFile)
	env.setString("REVERB_TLS_KEY", &c.TLSKeyFile)
	if v, from := env.get("REVERB_SCALING_ENABLED"); v != "" {
		on, ok := parseBool(v)
		if !ok {
			return fmt.Errorf("REVERB_SCALING_ENABLED=%q in %s: expected true or false", v, from)
		}
		c.Scaling.Enabled = on
	}
	if c.Scaling.Enabled {
		if err := applyRedisEnv(&c.Scaling, env); err != nil {
			return err
		}
	}
	return applyAppEnv(c, env)
}

// applyRedisEnv reads REDIS_* only when scaling is on: a Laravel .env
// always holds them for the app's cache and queues.
func applyRedisEnv(r *hub.RedisConfig, env envVars) error {
	env.setString("REVERB_SCALING_CHANNEL", &r.Prefix)
	env.setString("REDIS_URL", &r.URL)
	env.setString("REDIS_HOST", &r.Host)
	env.setString("REDIS_PASSWORD", &r.Password)
	if err := env.setPort("REDIS_PORT", &r.Port); err != nil {
		return err
	}
	if v, from := env.get("REDIS_DB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("REDIS_DB=%q in %s: expected a database number (0 or more)", v, from)
		}
		r.DB = n
	}
	return nil
}

// setString overwrites *dst with a variable that is set and not empty:
// an empty line in .env keeps the config file's value.
func (e envVars) setString(name string, dst *string) {
	if v, _ := e.get(name); v != "" {
		*dst = v
	}
}

// setPort is setString for a TCP port, refusing anything but 1-65535.
func (e envVars) setPort(name string, dst *int) error {
	v, from := e.get(name)
	if v == "" {
		return nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%s=%q in %s: expected a port number (1-65535)", name, v, from)
	}
	*dst = p
	return nil
}

func applyAppEnv(c *Config, env envVars) error {
	names := [3]string{"REVERB_APP_ID", "REVERB_APP_KEY", "REVERB_APP_SECRET"}
	var values, origins [3]string
	set := 0
	for i, name := range names {
		values[i], origins[i] = env.get(name)
		if values[i] != "" {
			set++
		}
	}
	if set == 0 {
		return nil
	}
	if set < 3 {
		var have, missing []string
		for i, name := range names {
			if values[i] == "" {
				missing = append(missing, name)
			} else {
				have = append(have, name+" (in "+origins[i]+")")
			}
		}
		return fmt.Errorf("%s set but %s not: set REVERB_APP_ID, REVERB_APP_KEY and REVERB_APP_SECRET together",
			strings.Join(have, ", "), strings.Join(missing, ", "))
	}
	app := hub.AppConfig{ID: values[0], Key: values[1], Secret: values[2], AllowedOrigins: []string{"*"}}
	ints := []struct {
		name string
		dst  *int
	}{
		{"REVERB_APP_PING_INTERVAL", &app.PingInterval},
		{"REVERB_APP_ACTIVITY_TIMEOUT", &app.ActivityTimeout},
		{"REVERB_APP_MAX_MESSAGE_SIZE", &app.MaxMessageSize},
		{"REVERB_APP_MAX_CONNECTIONS", &app.MaxConnections},
	}
	for _, field := range ints {
		if v, from := env.get(field.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s=%q in %s: expected a whole number", field.name, v, from)
			}
			*field.dst = n
		}
	}
	// An env app replaces a file app with the same id.
	for i := range c.Apps {
		if c.Apps[i].ID == app.ID {
			c.Apps = append(c.Apps[:i], c.Apps[i+1:]...)
			break
		}
	}
	c.Apps = append(c.Apps, app)
	return nil
}

func (c Config) engineOptions() engine.Options {
	o := engine.Options{
		Host:                c.Host,
		Port:                c.Port,
		Path:                c.Path,
		MaxOutboundBytes:    c.MaxOutboundBytes,
		SocketSendBuffer:    c.SocketSendBuffer,
		ShutdownGrace:       time.Duration(c.ShutdownGrace) * time.Second,
		MaxTotalConnections: c.MaxTotalConnections,
		HandshakeTimeout:    time.Duration(c.HandshakeTimeout) * time.Second,
		DrainDelay:          optionalSeconds(c.DrainDelay),
		DrainWindow:         optionalSeconds(c.DrainWindow),
		RequestTimeout:      time.Duration(c.RequestTimeout) * time.Second,
		NoCompression:       c.Compression != nil && !*c.Compression,
		PinLoops:            c.PinLoops == nil || *c.PinLoops,
		Debug:               c.Debug,
	}
	o.MemoryReturnInterval = optionalSeconds(c.MemoryReturnInterval)
	return o
}

func (c Config) apiOptions() httpapi.Options {
	return httpapi.Options{
		Path:                c.Path,
		AuthTimestampWindow: time.Duration(c.AuthTimestampWindow) * time.Second,
		Workers:             c.APIWorkers,
		BusWorkers:          c.APIBusWorkers,
		Queue:               c.APIQueue,
		Timeout:             time.Duration(c.APITimeout * float64(time.Second)),
		ExposeStats:         c.ExposeStats,
	}
}

// optionalSeconds maps an unset key to the engine default (0) and an
// explicit 0 to "none" (negative), as engine.Options expects.
func optionalSeconds(v *int) time.Duration {
	switch {
	case v == nil:
		return 0
	case *v <= 0:
		return -1
	default:
		return time.Duration(*v) * time.Second
	}
}
