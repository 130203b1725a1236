// Package protocol holds the Pusher Channels protocol 7: message shapes,
// signatures, channel names, limits and error codes. It does no I/O.
package protocol

// Pusher error codes, as sent in pusher:error and in close frames. pusher-js
// decides whether to reconnect from the range: 4000-4099 refused for good,
// 4100-4199 back off, 4200-4299 reconnect at once, 4300+ refused.
const (
	ErrSSLOnly             = 4000
	ErrAppNotFound         = 4001
	ErrAppDisabled         = 4003
	ErrOverQuota           = 4004
	ErrPath                = 4005
	ErrUnauthorized        = 4009
	ErrOverCapacity        = 4100
	ErrReconnect           = 4200
	ErrPongNotReceived     = 4201
	ErrClosedForInactivity = 4202
	ErrClientEvent         = 4301
)
