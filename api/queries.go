package api

import (
	"context"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/resound/resound/hub"
	"github.com/resound/resound/protocol"
	"github.com/valyala/fasthttp"
)

func wants(info, field string) bool {
	for f := range strings.SplitSeq(info, ",") {
		if strings.TrimSpace(f) == field {
			return true
		}
	}
	return false
}

func channelsInfo(ctx context.Context, app *hub.App, channels []string, info string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, name := range channels {
		ci, err := app.Channel(ctx, name)
		if err != nil {
			continue // cluster state unavailable: the publish itself went through
		}
		out[name] = infoFields(ci, info)
	}
	return out
}

// infoFields is what info= asks about one channel: user_count (presence
// channels only) and subscription_count.
func infoFields(ci hub.ChannelInfo, info string) map[string]any {
	m := map[string]any{}
	if wants(info, "user_count") && ci.Kind.IsPresence() {
		m["user_count"] = ci.UserCount
	}
	if wants(info, "subscription_count") {
		m["subscription_count"] = ci.SubscriptionCount
	}
	return m
}

func (a *API) channels(req *fasthttp.Request, app *hub.App, _ []string) (busCall, *apiError) {
	args := req.URI().QueryArgs()
	prefix := string(args.Peek("filter_by_prefix"))
	info := string(args.Peek("info"))
	if wants(info, "user_count") && !strings.HasPrefix(prefix, "presence-") {
		return nil, fail(400, "info=user_count needs filter_by_prefix=presence-")
	}
	return func(ctx context.Context) (any, *apiError) {
		list, err := app.Channels(ctx, prefix, wants(info, "user_count"))
		if err != nil {
			return nil, unavailable(err)
		}
		out := map[string]map[string]any{}
		for _, ci := range list {
			out[ci.Name] = infoFields(ci, info)
		}
		return map[string]any{"channels": out}, nil
	}, nil
}

func (a *API) channel(req *fasthttp.Request, app *hub.App, parts []string) (busCall, *apiError) {
	name := parts[1]
	if !protocol.ValidChannelName(name) {
		return nil, fail(422, "Invalid channel name "+strconv.Quote(name))
	}
	info := string(req.URI().QueryArgs().Peek("info"))
	if wants(info, "user_count") && !protocol.KindOf(name).IsPresence() {
		return nil, fail(400, "info=user_count is only available for presence channels")
	}
	return func(ctx context.Context) (any, *apiError) {
		ci, err := app.Channel(ctx, name)
		if err != nil {
			return nil, unavailable(err)
		}
		out := map[string]any{"occupied": ci.Occupied}
		if wants(info, "user_count") {
			out["user_count"] = ci.UserCount
		}
		if wants(info, "subscription_count") {
			out["subscription_count"] = ci.SubscriptionCount
		}
		if wants(info, "cache") && ci.Kind.IsCache() {
			if p := app.CachedEvent(ctx, name); p != nil {
				out["cache"] = json.RawMessage(p)
			}
		}
		return out, nil
	}, nil
}

func (a *API) users(_ *fasthttp.Request, app *hub.App, parts []string) (busCall, *apiError) {
	name := parts[1]
	if !protocol.KindOf(name).IsPresence() {
		return nil, fail(400, "Users are only available for presence channels, not "+strconv.Quote(name))
	}
	return func(ctx context.Context) (any, *apiError) {
		ids, err := app.Users(ctx, name)
		if err != nil {
			return nil, unavailable(err)
		}
		users := make([]map[string]string, len(ids))
		for i, id := range ids {
			users[i] = map[string]string{"id": id}
		}
		return map[string]any{"users": users}, nil
	}, nil
}

func (a *API) terminate(_ *fasthttp.Request, app *hub.App, parts []string) (busCall, *apiError) {
	userID := parts[1]
	if userID == "" {
		return nil, fail(422, "Missing user id")
	}
	return func(ctx context.Context) (any, *apiError) {
		if err := app.TerminateUser(ctx, userID); err != nil {
			return nil, notPublished(err)
		}
		return struct{}{}, nil
	}, nil
}

// connections reads the other nodes' counts, so it runs with the bus calls.
func (a *API) connections(_ *fasthttp.Request, app *hub.App, _ []string) (busCall, *apiError) {
	return func(context.Context) (any, *apiError) {
		return map[string]int{"connections": app.ClusterConnections()}, nil
	}, nil
}
