package api

import (
	"errors"
	"strings"
	"time"

	"github.com/resound/resound/hub"
)

// apiError is an HTTP status with a one-line message saying what is wrong.
type apiError struct {
	status int
	msg    string
	allow  string // for 405: the method to use
	// retryAfter (seconds) marks a refusal the client should simply retry.
	retryAfter int
	logKind    string
}

func fail(status int, msg string) *apiError { return &apiError{status: status, msg: msg} }

// retryAfterSeconds is what every 503 that asks to retry says: overload and
// outages clear on the scale of seconds, and pusher clients retry once.
const retryAfterSeconds = 1

// busy is a 503 the client should retry after a moment; kind groups it in
// the failure log.
func busy(kind, msg string) *apiError {
	return &apiError{status: 503, msg: msg, retryAfter: retryAfterSeconds, logKind: kind}
}

func overloaded(pool string) *apiError {
	return busy("overload", "Server busy: too many API requests waiting for "+pool+"; retry after the Retry-After delay")
}

func timedOut(limit time.Duration) *apiError {
	return busy("timeout", "Timed out: no answer within "+limit.String()+" (api_timeout); nothing was published, retry after the Retry-After delay")
}

// unavailable reports that cluster-wide state could not be read.
func unavailable(err error) *apiError {
	return busy("cluster", "Cluster state unavailable (Redis): "+firstLine(err.Error())+"; retry after the Retry-After delay")
}

// notPublished reports a publish the bus did not take: nothing was
// delivered, so a retry cannot duplicate it. A publish whose outcome is
// unknown is a 504 instead, without Retry-After: it may be delivered (once),
// and only the caller knows whether a duplicate is worse than a loss.
func notPublished(err error) *apiError {
	if errors.Is(err, hub.ErrUnconfirmed) {
		return &apiError{status: 504, logKind: "bus-unconfirmed",
			msg: "Not confirmed: " + firstLine(err.Error()) + "; the event is delivered at most once, so a retry may deliver it twice"}
	}
	return busy("bus", "Not published: "+firstLine(err.Error())+"; nothing was delivered, retry after the Retry-After delay")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
