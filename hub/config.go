// Package hub keeps the apps, their channels, presence members and cached
// events, and fans messages out to sockets on their own event loops. It never
// does I/O itself: the engine hands it an Outbox per socket and an Executor
// per loop, and the Bus carries what must reach other nodes.
package hub

import (
	"time"

	"github.com/resound/resound/webhook"
)

// AppConfig is one application. Zero values take the defaults documented on
// each field (see Defaults).
type AppConfig struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Secret string `json:"secret"`
	// AllowedOrigins holds hosts that may open sockets: "*", "example.com",
	// "*.example.com". Empty means any origin.
	AllowedOrigins []string `json:"allowed_origins"`
	// PingInterval: seconds of silence before the server pings (60).
	PingInterval int `json:"ping_interval"`
	// ActivityTimeout: seconds told to clients; pusher-js pings after that (30).
	ActivityTimeout int `json:"activity_timeout"`
	// MaxMessageSize: largest client WebSocket message in bytes (10000).
	MaxMessageSize int `json:"max_message_size"`
	// MaxConnections: sockets allowed at once, 0 for no limit.
	MaxConnections int `json:"max_connections"`
	// AcceptClientEventsFrom: "members" (subscribers of the channel, default),
	// "all" (any socket of the app, subscribed or not, as Reverb allows) or
	// "none" (whispers refused).
	AcceptClientEventsFrom string `json:"accept_client_events_from"`
	// ClientEventsPerSecond: whispers a socket may send per second (10).
	ClientEventsPerSecond int `json:"client_events_per_second"`
	// MaxRequestSize: largest HTTP API body in bytes (100000).
	MaxRequestSize int `json:"max_request_size"`
	// MaxEventDataSize: largest event "data" in bytes (100000).
	MaxEventDataSize int `json:"max_event_data_size"`
	// MaxChannelsPerEvent: channels one publish may name (100).
	MaxChannelsPerEvent int `json:"max_channels_per_event"`
	// MaxBatchSize: events in one batch_events call (10).
	MaxBatchSize int `json:"max_batch_size"`
	// CacheTTL: seconds a cache channel keeps its last event (1800).
	CacheTTL int `json:"cache_ttl"`
	// MaxChannelsPerConnection: channels one socket may be subscribed to at
	// once (1000; -1 for no limit). Pusher and Reverb set none; this bounds
	// what one socket can make the server hold.
	MaxChannelsPerConnection int `json:"max_channels_per_connection"`
	// MaxPresenceMembersPerChannel: distinct users on one presence channel
	// (100, Pusher's limit; -1 for no limit). Every joiner receives the
	// whole member list, so this bounds each join's cost.
	MaxPresenceMembersPerChannel int `json:"max_presence_members_per_channel"`
	// MaxPresenceMemberSize: bytes of a member's user_info JSON (1024,
	// Pusher's 1 KB; -1 for no limit).
	MaxPresenceMemberSize int `json:"max_presence_member_size"`
	// Compression: answer a client's permessage-deflate offer and send
	// events compressed (true). A pointer, so unset and false differ.
	Compression *bool `json:"compression"`
	// CompressionMinBytes: messages shorter than this go out uncompressed
	// even to sockets that negotiated compression (512).
	CompressionMinBytes int `json:"compression_min_bytes"`
	// Webhooks are POSTed what happens on the app's channels (none).
	Webhooks []webhook.Config `json:"webhooks"`
	// UserAuthenticationTimeout: seconds a socket has to sign in
	// (pusher:signin) before it is closed with 4009, as Pusher's "enforce
	// user authentication" does (0: never; the default).
	UserAuthenticationTimeout int `json:"user_authentication_timeout"`
	// MaxUserDataSize: bytes of a sign-in's user_data (4096; -1 for no
	// limit). A larger one gets pusher:signin_error.
	MaxUserDataSize int `json:"max_user_data_size"`
	// MaxWatchlistSize: user ids one sign-in may watch (100, Pusher's limit;
	// -1 for no limit). A longer watchlist gets pusher:signin_error.
	MaxWatchlistSize int `json:"max_watchlist_size"`
	// SubscriptionCountEvents: send pusher_internal:subscription_count to
	// the subscribers of non-presence channels when their cluster-wide count
	// changes, at most once per second per channel (off by default).
	SubscriptionCountEvents bool `json:"subscription_count_events"`
}

// NoLimit is the value that lifts a limit whose zero value means "default".
const NoLimit = -1

// WithDefaults fills every zero field with its default.
func (c AppConfig) WithDefaults() AppConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.PingInterval, 60)
	def(&c.ActivityTimeout, 30)
	def(&c.MaxMessageSize, 10000)
	def(&c.ClientEventsPerSecond, 10)
	def(&c.MaxRequestSize, 100000)
	def(&c.MaxEventDataSize, 100000)
	def(&c.MaxChannelsPerEvent, 100)
	def(&c.MaxBatchSize, 10)
	def(&c.CacheTTL, 1800)
	def(&c.CompressionMinBytes, 512)
	limit := func(v *int, d int) {
		if *v == 0 {
			*v = d
		} else if *v < 0 {
			*v = NoLimit
		}
	}
	limit(&c.MaxChannelsPerConnection, 1000)
	limit(&c.MaxPresenceMembersPerChannel, 100)
	limit(&c.MaxPresenceMemberSize, 1024)
	limit(&c.MaxUserDataSize, 4096)
	limit(&c.MaxWatchlistSize, 100)
	if c.UserAuthenticationTimeout < 0 {
		c.UserAuthenticationTimeout = 0
	}
	if c.MaxConnections < 0 {
		c.MaxConnections = 0
	}
	if c.AcceptClientEventsFrom == "" {
		c.AcceptClientEventsFrom = "members"
	}
	return c
}

// CompressionEnabled says whether the app's sockets may use permessage-deflate.
func (c AppConfig) CompressionEnabled() bool { return c.Compression == nil || *c.Compression }

// PingEvery is PingInterval as a duration.
func (c AppConfig) PingEvery() time.Duration { return time.Duration(c.PingInterval) * time.Second }
