// Command resound is a Pusher-protocol WebSocket server, a drop-in for
// Laravel Reverb.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	httpapi "github.com/resound/resound/api"
	"github.com/resound/resound/engine"
	"github.com/resound/resound/hub"
	"github.com/resound/resound/internal/tlscert"
	"github.com/resound/resound/metrics"
)

var version = "0.1.0-dev"

const usage = `resound: a Pusher-protocol WebSocket server (drop-in for Laravel Reverb)

Usage:
  resound start [--host 0.0.0.0] [--port 8080] [--path PREFIX] [--config FILE] [--env-file PATH]
                [--tls-cert FILE --tls-key FILE] [--debug] [--expose-stats]
                [--metrics-port N] [--log-format text|json]
  resound version

--env-file reads Reverb's variables (REVERB_SERVER_*, REVERB_APP_*, and with
REVERB_SCALING_ENABLED=true the REDIS_* ones) from a Laravel .env. Flags win
over the environment, the environment over the .env, the .env over the
config file.

--tls-cert/--tls-key serve wss:// and https:// on the port; SIGHUP reloads
them (a bad pair keeps the old one).

With no config file and no REVERB_APP_* variables it serves one default app
and prints its id, key and secret.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "version", "--version", "-v":
		fmt.Println("resound", version)
	case "start":
		if err := start(os.Args[2:]); err != nil {
			if jsonLogs {
				slog.Error("resound: " + err.Error())
			} else {
				fmt.Fprintln(os.Stderr, "resound:", err)
			}
			os.Exit(1)
		}
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
}

func start(args []string) error {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	host := fs.String("host", "", "address to listen on (default 0.0.0.0)")
	port := fs.Int("port", 0, "port for WebSockets and the HTTP API (default 8080)")
	path := fs.String("path", "", "route prefix in front of /app and /apps")
	configPath := fs.String("config", "", "JSON config file (see README.md)")
	envFile := fs.String("env-file", "", "Laravel .env to read Reverb's variables from (the environment wins over it)")
	debug := fs.Bool("debug", false, "log every connection, subscription and message")
	stats := fs.Bool("expose-stats", false, "serve GET /stats with process memory (for benchmarks)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate chain: serve wss:// and https:// (reloaded on SIGHUP)")
	tlsKey := fs.String("tls-key", "", "PEM private key for --tls-cert (default: read from the --tls-cert file)")
	metricsPort := fs.Int("metrics-port", -1, "serve Prometheus metrics on this port at /metrics (0: off)")
	logFormat := fs.String("log-format", "", "text (default) or json: one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath, *envFile, os.LookupEnv)
	if err != nil {
		return err
	}
	if *host != "" {
		cfg.Host = *host
	}
	if *port != 0 {
		cfg.Port = *port
	}
	if *path != "" {
		cfg.Path = *path
	}
	if *tlsCert != "" {
		cfg.TLSCertFile = *tlsCert
	}
	if *tlsKey != "" {
		cfg.TLSKeyFile = *tlsKey
	}
	cfg.Debug = cfg.Debug || *debug
	cfg.ExposeStats = cfg.ExposeStats || *stats
	if *metricsPort >= 0 {
		cfg.MetricsPort = *metricsPort
	}
	if *logFormat != "" {
		cfg.LogFormat = *logFormat
	}
	if err := cfg.checkObservability(); err != nil {
		return err
	}
	setUpLogs(cfg.LogFormat)
	if len(cfg.Apps) == 0 {
		cfg.Apps = []hub.AppConfig{defaultApp()}
		a := cfg.Apps[0]
		if cfg.LogFormat == "json" {
			// Generated, so shown once: the broadcaster needs the secret.
			slog.Info("No apps configured: serving a default app", "REVERB_APP_ID", a.ID, "REVERB_APP_KEY", a.Key, "REVERB_APP_SECRET", a.Secret)
		} else {
			fmt.Printf("No apps configured: serving a default app.\n  REVERB_APP_ID=%s\n  REVERB_APP_KEY=%s\n  REVERB_APP_SECRET=%s\n", a.ID, a.Key, a.Secret)
		}
	}
	logSummary(cfg)
	var shared hub.Options
	var conn *hub.RedisConn
	if cfg.Scaling.Enabled {
		ids := make([]string, len(cfg.Apps))
		for i, a := range cfg.Apps {
			ids[i] = a.ID
		}
		if conn, err = hub.NewRedisConn(cfg.Scaling); err != nil {
			return err
		}
		shared = hub.NewRedisShared(conn, ids)
	}
	hooks, err := startWebhooks(cfg, conn)
	if err != nil {
		return err
	}
	if hooks != nil {
		shared.Hooks = hooks
		defer hooks.Close()
	}
	if skew, err := time.ParseDuration(os.Getenv("RESOUND_TEST_CLOCK_SKEW")); err == nil {
		// Only tests set it: it shows that nodes with wrong clocks still
		// agree on who is alive.
		shared.Clock = func() time.Time { return time.Now().Add(skew) }
		log.Printf("resound: clock skewed by %v (RESOUND_TEST_CLOCK_SKEW)", skew)
	}
	opts := cfg.engineOptions()
	var certs *tlscert.Store
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if certs, err = tlscert.Load(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return err
		}
		opts.TLS = certs.Config()
		log.Printf("resound: TLS with %s; SIGHUP reloads it", certs.Describe())
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go reloadOnHangup(hup, certs)
	var mx *metrics.Metrics
	if cfg.metricsAddr() != "" {
		mx = metrics.New()
		shared.Observer = mx
	}
	srv, err := engine.New(cfg.Apps, opts, shared)
	if err != nil {
		return err
	}
	apiOpts := cfg.apiOptions()
	if mx != nil {
		apiOpts.Observe = mx.ObserveRequest
		mx.Watch(srv)
		if hooks != nil {
			mx.WatchWebhooks(hooks.Stats)
		}
		if err := startMetrics(mx, cfg.metricsAddr()); err != nil {
			return err
		}
	}
	apiOpts.Webhooks = hooks.Stats
	srv.HandleHTTP(httpapi.New(srv.Hub(), srv, apiOpts))
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go handleSignals(sig, srv)
	go func() {
		<-srv.Started()
		h := cfg.Host
		switch h {
		case "", "0.0.0.0":
			h = "127.0.0.1"
		case "::":
			h = "::1"
		}
		p := cfg.Port
		if p == 0 {
			p = 8080
		}
		hp := net.JoinHostPort(h, strconv.Itoa(p))
		ws, web := "ws", "http"
		if certs != nil {
			ws, web = "wss", "https"
		}
		log.Printf("resound %s listening on %s (WebSocket %s://%s%s/app/{key}, HTTP API %s://%s%s/apps/{id}); at most %d connections (max_total_connections)",
			version, srv.Addr(), ws, hp, cfg.Path, web, hp, cfg.Path, srv.MaxTotalConnections())
	}()
	if err := srv.Run(); err != nil {
		return fmt.Errorf("%w; exiting with status 1 so a supervisor restarts the node", err)
	}
	return nil
}

// handleSignals drains on the first signal: SIGTERM (from a supervisor)
// waits drain_delay for load balancers, SIGINT (Ctrl-C) skips it. A second
// signal stops at once.
func handleSignals(sig <-chan os.Signal, srv *engine.Server) {
	first := <-sig
	log.Printf("resound: %s: draining (a second signal stops at once)", first)
	go srv.Drain(first == syscall.SIGINT)
	second := <-sig
	log.Printf("resound: %s: stopping at once", second)
	srv.Shutdown()
}

// reloadOnHangup re-reads the certificate on each SIGHUP (what certbot's
// deploy hook or systemctl reload sends). New handshakes get the new pair;
// established sockets keep theirs. A pair that fails to load changes
// nothing. Without TLS, SIGHUP is ignored rather than ending the process.
func reloadOnHangup(hup <-chan os.Signal, certs *tlscert.Store) {
	for range hup {
		if certs == nil {
			log.Printf("resound: SIGHUP: no TLS certificate configured, nothing to reload")
			continue
		}
		if err := certs.Reload(); err != nil {
			log.Printf("resound: SIGHUP: certificate reload failed: %v", err)
			continue
		}
		log.Printf("resound: SIGHUP: reloaded %s", certs.Describe())
	}
}

// defaultApp has a fixed id and a random key and secret unless the
// environment gives them.
func defaultApp() hub.AppConfig {
	return hub.AppConfig{ID: "resound", Key: randomHex(10), Secret: randomHex(16), AllowedOrigins: []string{"*"}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
