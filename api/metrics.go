package api

import (
	"bytes"
	"time"

	"github.com/resound/resound/hub"
)

// RequestObserver receives every API request the API answers: its route
// template (one of Routes, never the raw path, so a scan of random URLs
// cannot grow the label set), its status and how long it took from arrival.
// It runs on event loops and workers: it must be cheap and must not block.
type RequestObserver func(route string, status int, d time.Duration)

// RouteOther stands for any path that is not one of the API's routes.
const RouteOther = "other"

// Routes are the route templates requests are reported under.
var Routes = []string{
	"/apps/{app_id}/events",
	"/apps/{app_id}/batch_events",
	"/apps/{app_id}/channels",
	"/apps/{app_id}/channels/{channel_name}",
	"/apps/{app_id}/channels/{channel_name}/users",
	"/apps/{app_id}/users/{user_id}/terminate_connections",
	"/apps/{app_id}/connections",
	"/up",
	"/ready",
	"/stats",
	RouteOther,
}

// routeOf maps a request path (without the query) to its template. It only
// looks at the shape: an unknown app id still maps to its template.
func routeOf(path []byte, prefix string) string {
	switch string(path) {
	case "/up":
		return "/up"
	case "/ready":
		return "/ready"
	}
	if prefix != "" {
		if !bytes.HasPrefix(path, []byte(prefix+"/")) {
			return RouteOther
		}
		path = path[len(prefix):]
	}
	switch string(path) {
	case "/up", "/ready", "/stats":
		return string(path)
	}
	rest, ok := bytes.CutPrefix(path, []byte("/apps/"))
	if !ok {
		return RouteOther
	}
	id, rest, found := bytes.Cut(rest, []byte("/"))
	if len(id) == 0 || !found {
		return RouteOther
	}
	parts := bytes.Split(rest, []byte("/"))
	switch {
	case len(parts) == 1 && string(parts[0]) == "events":
		return Routes[0]
	case len(parts) == 1 && string(parts[0]) == "batch_events":
		return Routes[1]
	case len(parts) == 1 && string(parts[0]) == "channels":
		return Routes[2]
	case len(parts) == 2 && string(parts[0]) == "channels" && len(parts[1]) > 0:
		return Routes[3]
	case len(parts) == 3 && string(parts[0]) == "channels" && string(parts[2]) == "users":
		return Routes[4]
	case len(parts) == 3 && string(parts[0]) == "users" && string(parts[2]) == "terminate_connections":
		return Routes[5]
	case len(parts) == 1 && string(parts[0]) == "connections":
		return Routes[6]
	}
	return RouteOther
}

// observe reports an answered request and counts the refusals that asked
// the client to retry.
func (a *API) observe(route string, status int, logKind string, start time.Time) {
	switch logKind {
	case "overload":
		a.hub.Refused(hub.RefusedAPIQueue)
	case "timeout":
		a.hub.Refused(hub.RefusedAPITimeout)
	}
	if a.opts.Observe != nil {
		a.opts.Observe(route, status, time.Since(start))
	}
}
