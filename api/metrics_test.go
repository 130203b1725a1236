package api

import "testing"

func TestRouteOfMapsPathsToTemplates(t *testing.T) {
	for path, want := range map[string]string{
		"/apps/1/events":                          "/apps/{app_id}/events",
		"/apps/1/batch_events":                    "/apps/{app_id}/batch_events",
		"/apps/1/channels":                        "/apps/{app_id}/channels",
		"/apps/1/channels/presence-a":             "/apps/{app_id}/channels/{channel_name}",
		"/apps/1/channels/presence-a/users":       "/apps/{app_id}/channels/{channel_name}/users",
		"/apps/1/users/u-7/terminate_connections": "/apps/{app_id}/users/{user_id}/terminate_connections",
		"/apps/1/connections":                     "/apps/{app_id}/connections",
		"/up":                                     "/up",
		"/ready":                                  "/ready",
		"/stats":                                  "/stats",
		"/apps/1/channels/":                       RouteOther,
		"/apps//events":                           RouteOther,
		"/apps/1":                                 RouteOther,
		"/apps/1/events/extra":                    RouteOther,
		"/wp-login.php":                           RouteOther,
		"":                                        RouteOther,
		"http://example.com/apps/1/events":        RouteOther,
	} {
		if got := routeOf([]byte(path), ""); got != want {
			t.Errorf("routeOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestRouteOfUnderAPrefix(t *testing.T) {
	for path, want := range map[string]string{
		"/ws/apps/1/events":  "/apps/{app_id}/events",
		"/apps/1/events":     RouteOther,
		"/up":                "/up", // health checks also answer at the root
		"/ws/up":             "/up",
		"/wsx/apps/1/events": RouteOther,
	} {
		if got := routeOf([]byte(path), "/ws"); got != want {
			t.Errorf("routeOf(%q) under /ws = %q, want %q", path, got, want)
		}
	}
}

func TestEveryTemplateIsARoute(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes {
		if seen[r] {
			t.Errorf("route %q listed twice", r)
		}
		seen[r] = true
	}
	if !seen[RouteOther] {
		t.Error("Routes lacks the catch-all")
	}
}
