package engine

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/resound/resound/hub"
	"github.com/resound/resound/protocol"
	"github.com/valyala/fasthttp"
)

// api answers the Pusher HTTP API (and health checks) on worker goroutines.
type api struct {
	srv  *Server
	jobs chan job
}

const apiWorkers = 8

func newAPI(s *Server) *api {
	a := &api{srv: s, jobs: make(chan job, 4096)}
	for range apiWorkers {
		go func() {
			for j := range a.jobs {
				a.serve(j)
			}
		}()
	}
	return a
}

// submit queues a request without ever blocking the loop.
func (a *api) submit(j job) bool {
	select {
	case a.jobs <- j:
		return true
	default:
		return false
	}
}

// apiError is an HTTP status with a one-line message saying what is wrong.
type apiError struct {
	status int
	msg    string
}

func fail(status int, msg string) *apiError { return &apiError{status, msg} }

func (a *api) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	prefix := a.srv.opts.Path
	// Health checks answer at the root too, where load balancers probe.
	if prefix != "" && path != "/up" && path != "/ready" {
		if !strings.HasPrefix(path, prefix+"/") {
			writeError(ctx, fail(404, "Not found: every route is under "+prefix))
			return
		}
		path = path[len(prefix):]
	}
	var body any
	var err *apiError
	switch {
	case path == "/up":
		body = map[string]string{"health": "OK"}
	case path == "/ready":
		if a.srv.Draining() {
			err = fail(503, "Shutting down")
		} else {
			body = map[string]bool{"ready": true}
		}
	case path == "/stats" && a.srv.opts.ExposeStats:
		body = a.stats(ctx.QueryArgs().Has("gc"))
	case strings.HasPrefix(path, "/apps/"):
		body, err = a.route(ctx, path)
	default:
		err = fail(404, "Not found: the API lives under /apps/{app_id}/")
	}
	if err != nil {
		writeError(ctx, err)
		return
	}
	out, _ := json.Marshal(body)
	ctx.SetStatusCode(200)
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
}

func writeError(ctx *fasthttp.RequestCtx, e *apiError) {
	ctx.SetStatusCode(e.status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(e.msg + "\n")
}

// route authenticates and dispatches /apps/{id}/...
func (a *api) route(ctx *fasthttp.RequestCtx, path string) (any, *apiError) {
	rest := strings.TrimPrefix(path, "/apps/")
	appID, rest, _ := strings.Cut(rest, "/")
	app := a.srv.hub.AppByID(appID)
	if app == nil {
		return nil, fail(404, "No matching application for ID ["+appID+"]")
	}
	method := string(ctx.Method())
	parts := strings.Split(rest, "/")
	var handler func(context.Context, *fasthttp.RequestCtx, *hub.App, []string) (any, *apiError)
	want := "GET"
	switch {
	case rest == "events":
		handler, want = a.events, "POST"
	case rest == "batch_events":
		handler, want = a.batchEvents, "POST"
	case rest == "channels":
		handler = a.channels
	case len(parts) == 2 && parts[0] == "channels":
		handler = a.channel
	case len(parts) == 3 && parts[0] == "channels" && parts[2] == "users":
		handler = a.users
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "terminate_connections":
		handler, want = a.terminate, "POST"
	case rest == "connections":
		handler = a.connections
	default:
		return nil, fail(404, "Not found: no API route "+path)
	}
	if method != want {
		ctx.Response.Header.Set("Allow", want)
		return nil, fail(405, "Method not allowed: use "+want+" for "+path)
	}
	if err := a.authenticate(ctx, app, path); err != nil {
		return nil, err
	}
	if len(ctx.PostBody()) > app.MaxRequestSize {
		return nil, fail(413, "Payload too large: this app's max_request_size is "+strconv.Itoa(app.MaxRequestSize)+" bytes")
	}
	// Cluster-bound work (Redis) must not hold a worker forever.
	c, cancel := context.WithTimeout(context.Background(), apiDeadline)
	defer cancel()
	return handler(c, ctx, app, parts)
}

// apiDeadline bounds one API call's wait for the bus or cluster state.
const apiDeadline = 5 * time.Second

// authenticate checks the request exactly as the Pusher SDKs sign it.
func (a *api) authenticate(ctx *fasthttp.RequestCtx, app *hub.App, path string) *apiError {
	args := ctx.QueryArgs()
	var params []protocol.QueryParam
	var sig, key, ts, version, md5 string
	for k, v := range args.All() {
		ks, vs := string(k), string(v)
		switch strings.ToLower(ks) {
		case "auth_signature":
			sig = vs
			continue
		case "auth_key":
			key = vs
		case "auth_timestamp":
			ts = vs
		case "auth_version":
			version = vs
		case "body_md5":
			md5 = vs
		}
		params = append(params, protocol.QueryParam{Key: ks, Value: vs})
	}
	if key == "" || ts == "" || sig == "" {
		return fail(401, "Missing auth_key, auth_timestamp or auth_signature: sign the request as the Pusher SDKs do")
	}
	if key != app.Key {
		return fail(401, "Invalid auth_key: it is not the key of app "+app.ID)
	}
	if version != "" && version != "1.0" {
		return fail(401, "Invalid auth_version: only 1.0 is supported")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fail(401, "Invalid auth_timestamp: expected unix seconds")
	}
	window := a.srv.opts.AuthTimestampWindow
	if d := time.Since(time.Unix(sec, 0)); d > window || d < -window {
		return fail(401, "Stale auth_timestamp: it is "+strconv.FormatInt(int64(d.Seconds()), 10)+"s from server time, the window is "+strconv.Itoa(int(window.Seconds()))+"s; check the clock")
	}
	body := ctx.PostBody()
	if len(body) > 0 || md5 != "" {
		if !strings.EqualFold(md5, protocol.BodyMD5(body)) {
			return fail(401, "Invalid body_md5: it does not match the body received")
		}
	}
	if !protocol.VerifySignature(app.Secret, string(ctx.Method()), path, params, sig) {
		return fail(401, "Invalid auth_signature: expected HMAC-SHA256 of \"METHOD\\n/apps/...\\nsorted query\" with this app's secret")
	}
	return nil
}

// eventRequest is one event in /events or /batch_events.
type eventRequest struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channel  string          `json:"channel"`
	Channels []string        `json:"channels"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

var socketIDPattern = regexp.MustCompile(`^\d+\.\d+$`)

// check validates an event and returns its channels and data string.
func (e *eventRequest) check(app *hub.App) ([]string, string, *apiError) {
	if !protocol.ValidEventName(e.Name) {
		return nil, "", fail(422, "Invalid \"name\": a non-empty event name of at most "+strconv.Itoa(protocol.MaxEventNameLength)+" characters is required")
	}
	data := bytes.TrimSpace(e.Data)
	if len(data) == 0 {
		return nil, "", fail(422, "Missing \"data\": send the event payload as a string")
	}
	var dataStr string
	if data[0] == '"' {
		if err := json.Unmarshal(data, &dataStr); err != nil {
			return nil, "", fail(422, "Invalid \"data\": not a JSON string")
		}
	} else {
		dataStr = string(data) // an object is accepted and sent as its JSON text
	}
	if len(dataStr) > app.MaxEventDataSize {
		return nil, "", fail(413, "Event data too large: "+strconv.Itoa(len(dataStr))+" bytes, this app's max_event_data_size is "+strconv.Itoa(app.MaxEventDataSize))
	}
	channels := e.Channels
	if e.Channel != "" {
		channels = append(channels, e.Channel)
	}
	if len(channels) == 0 {
		return nil, "", fail(422, "Missing \"channels\": name at least one channel")
	}
	if len(channels) > app.MaxChannelsPerEvent {
		return nil, "", fail(413, "Too many channels: "+strconv.Itoa(len(channels))+", the limit is "+strconv.Itoa(app.MaxChannelsPerEvent)+" per event")
	}
	for _, c := range channels {
		if !protocol.ValidChannelName(c) {
			return nil, "", fail(422, "Invalid channel name "+strconv.Quote(c)+": use 1-164 characters from a-z A-Z 0-9 - _ = @ , . ;")
		}
	}
	if e.SocketID != "" && !socketIDPattern.MatchString(e.SocketID) {
		return nil, "", fail(422, "Invalid \"socket_id\": expected digits.digits as pusher-js reports it")
	}
	return channels, dataStr, nil
}

func decodeBody(ctx *fasthttp.RequestCtx, v any) *apiError {
	body := ctx.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		return fail(400, "Empty body: send a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fail(400, "Malformed JSON body: "+firstLine(err.Error()))
	}
	return nil
}

func (a *api) events(c context.Context, ctx *fasthttp.RequestCtx, app *hub.App, _ []string) (any, *apiError) {
	var e eventRequest
	if err := decodeBody(ctx, &e); err != nil {
		return nil, err
	}
	channels, data, err := e.check(app)
	if err != nil {
		return nil, err
	}
	if perr := app.Publish(c, []hub.Event{{Name: e.Name, Data: data, Channels: channels, ExceptSocket: e.SocketID}}); perr != nil {
		return nil, fail(503, "Publish failed: "+perr.Error())
	}
	if e.Info == "" {
		return struct{}{}, nil
	}
	return map[string]any{"channels": channelsInfo(c, app, channels, e.Info)}, nil
}

func (a *api) batchEvents(c context.Context, ctx *fasthttp.RequestCtx, app *hub.App, _ []string) (any, *apiError) {
	var b struct {
		Batch []eventRequest `json:"batch"`
	}
	if err := decodeBody(ctx, &b); err != nil {
		return nil, err
	}
	if len(b.Batch) > app.MaxBatchSize {
		return nil, fail(413, "Batch too large: "+strconv.Itoa(len(b.Batch))+" events, the limit is "+strconv.Itoa(app.MaxBatchSize))
	}
	type checked struct {
		channels []string
		data     string
	}
	all := make([]checked, len(b.Batch))
	for i := range b.Batch {
		ch, data, err := b.Batch[i].check(app)
		if err != nil {
			err.msg = "batch[" + strconv.Itoa(i) + "]: " + err.msg
			return nil, err
		}
		all[i] = checked{ch, data}
	}
	wantInfo := false
	events := make([]hub.Event, len(b.Batch))
	for i, e := range b.Batch {
		events[i] = hub.Event{Name: e.Name, Data: all[i].data, Channels: all[i].channels, ExceptSocket: e.SocketID}
		wantInfo = wantInfo || e.Info != ""
	}
	if err := app.Publish(c, events); err != nil {
		return nil, fail(503, "Publish failed: "+err.Error())
	}
	if !wantInfo {
		return map[string]any{"batch": struct{}{}}, nil
	}
	out := make([]map[string]any, len(b.Batch))
	for i, e := range b.Batch {
		out[i] = map[string]any{}
		if e.Info != "" {
			first := all[i].channels[0]
			out[i] = channelsInfo(c, app, all[i].channels[:1], e.Info)[first]
		}
	}
	return map[string]any{"batch": out}, nil
}

func wants(info, field string) bool {
	for _, f := range strings.Split(info, ",") {
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
			continue // cluster state unavailable: report what the publish did
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

func (a *api) channels(c context.Context, ctx *fasthttp.RequestCtx, app *hub.App, _ []string) (any, *apiError) {
	prefix := string(ctx.QueryArgs().Peek("filter_by_prefix"))
	info := string(ctx.QueryArgs().Peek("info"))
	if wants(info, "user_count") && !strings.HasPrefix(prefix, "presence-") {
		return nil, fail(400, "info=user_count needs filter_by_prefix=presence-")
	}
	list, err := app.Channels(c, prefix, wants(info, "user_count"))
	if err != nil {
		return nil, unavailable(err)
	}
	out := map[string]map[string]any{}
	for _, ci := range list {
		out[ci.Name] = infoFields(ci, info)
	}
	return map[string]any{"channels": out}, nil
}

func (a *api) channel(c context.Context, ctx *fasthttp.RequestCtx, app *hub.App, parts []string) (any, *apiError) {
	name := parts[1]
	if !protocol.ValidChannelName(name) {
		return nil, fail(422, "Invalid channel name "+strconv.Quote(name))
	}
	info := string(ctx.QueryArgs().Peek("info"))
	ci, err := app.Channel(c, name)
	if err != nil {
		return nil, unavailable(err)
	}
	out := map[string]any{"occupied": ci.Occupied}
	if wants(info, "user_count") {
		if !ci.Kind.IsPresence() {
			return nil, fail(400, "info=user_count is only available for presence channels")
		}
		out["user_count"] = ci.UserCount
	}
	if wants(info, "subscription_count") {
		out["subscription_count"] = ci.SubscriptionCount
	}
	if wants(info, "cache") && ci.Kind.IsCache() {
		if p := app.CachedEvent(c, name); p != nil {
			out["cache"] = json.RawMessage(p)
		}
	}
	return out, nil
}

func (a *api) users(c context.Context, _ *fasthttp.RequestCtx, app *hub.App, parts []string) (any, *apiError) {
	name := parts[1]
	if !protocol.KindOf(name).IsPresence() {
		return nil, fail(400, "Users are only available for presence channels, not "+strconv.Quote(name))
	}
	ids, err := app.Users(c, name)
	if err != nil {
		return nil, unavailable(err)
	}
	users := make([]map[string]string, len(ids))
	for i, id := range ids {
		users[i] = map[string]string{"id": id}
	}
	return map[string]any{"users": users}, nil
}

func (a *api) terminate(c context.Context, _ *fasthttp.RequestCtx, app *hub.App, parts []string) (any, *apiError) {
	if parts[1] == "" {
		return nil, fail(422, "Missing user id")
	}
	if err := app.TerminateUser(c, parts[1]); err != nil {
		return nil, fail(503, "Terminate failed: "+err.Error())
	}
	return struct{}{}, nil
}

func (a *api) connections(_ context.Context, _ *fasthttp.RequestCtx, app *hub.App, _ []string) (any, *apiError) {
	return map[string]int{"connections": app.ClusterConnections()}, nil
}

// unavailable reports that cluster-wide state could not be read.
func unavailable(err error) *apiError {
	return fail(503, "Cluster state unavailable (Redis): "+firstLine(err.Error())+"; retry shortly")
}

// stats reports process memory for benchmarks (only with ExposeStats).
func (a *api) stats(gc bool) map[string]any {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{
		"rss_bytes":         rssBytes(),
		"heap_inuse_bytes":  ms.HeapInuse,
		"heap_objects":      ms.HeapObjects,
		"stack_inuse_bytes": ms.StackInuse,
		"goroutines":        runtime.NumGoroutine(),
		"connections":       a.srv.open.Load(),
	}
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
