package api

import (
	"bufio"
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/resound/resound/hub"
	"github.com/valyala/fasthttp"
)

// busCall is the part of a request that reads or changes cluster state; it
// runs on the bus pool and must give up when ctx ends.
type busCall func(ctx context.Context) (any, *apiError)

// handler checks a request on a CPU worker (no Redis, no bus) and returns
// the bus call that finishes it.
type handler func(req *fasthttp.Request, app *hub.App, parts []string) (busCall, *apiError)

// maxHeadBytes matches the engine's limit on a request head.
const maxHeadBytes = 8 << 10

// readerPool's readers hold a whole request head: fasthttp refuses heads
// larger than its reader's buffer.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxHeadBytes+512) }}

// serve runs on a CPU worker: parse, route, authenticate, validate; then
// answer, or pass the bus call on to the bus pool.
func (a *API) serve(r *request) {
	if time.Now().After(r.deadline) {
		a.answer(r, errorResponse(timedOut(a.opts.Timeout)))
		return
	}
	var req fasthttp.Request
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(r.raw))
	err := req.Read(br)
	br.Reset(nil)
	readerPool.Put(br)
	if err != nil {
		resp := errorResponse(fail(400, "Bad request: "+firstLine(err.Error())))
		resp.close = true
		a.answer(r, resp)
		return
	}
	r.close = r.close || req.Header.ConnectionClose()
	body, call, apiErr := a.handle(&req, string(req.URI().Path()))
	switch {
	case apiErr != nil:
		a.answer(r, errorResponse(apiErr))
	case call != nil:
		if !a.bus.trySubmit(func() { a.finish(r, call) }) {
			a.answer(r, errorResponse(overloaded("Redis and the bus")))
		}
	default:
		a.answerJSON(r, body)
	}
}

// finish runs a bus call on a bus worker, bounded by the request's deadline.
func (a *API) finish(r *request, call busCall) {
	if time.Now().After(r.deadline) {
		a.answer(r, errorResponse(timedOut(a.opts.Timeout)))
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), r.deadline)
	body, apiErr := call(ctx)
	cancel()
	if apiErr != nil {
		a.answer(r, errorResponse(apiErr))
		return
	}
	a.answerJSON(r, body)
}

func (a *API) answerJSON(r *request, body any) {
	out, err := json.Marshal(body)
	if err != nil {
		a.answer(r, errorResponse(fail(500, "Internal error encoding the answer: "+firstLine(err.Error()))))
		return
	}
	a.answer(r, jsonResponse(out))
}

// handle routes a parsed request. It returns a body to answer at once, or a
// call for the bus pool, or an error.
func (a *API) handle(req *fasthttp.Request, path string) (any, busCall, *apiError) {
	prefix := a.opts.Path
	// Health checks answer at the root too, where load balancers probe. They
	// are normally answered on the loop; this catches spellings the quick
	// reader leaves alone (an absolute URI, "//up").
	if prefix != "" && path != "/up" && path != "/ready" {
		if !strings.HasPrefix(path, prefix+"/") {
			return nil, nil, fail(404, "Not found: every route is under "+prefix)
		}
		path = path[len(prefix):]
	}
	switch {
	case path == "/up" || path == "/ready":
		resp := a.health(path[1:])
		if resp.status != 200 {
			return nil, nil, fail(resp.status, strings.TrimSpace(string(resp.body)))
		}
		return json.RawMessage(resp.body), nil, nil
	case path == "/stats" && a.opts.ExposeStats:
		return a.stats(req.URI().QueryArgs().Has("gc")), nil, nil
	case strings.HasPrefix(path, "/apps/"):
		call, err := a.route(req, path)
		return nil, call, err
	}
	return nil, nil, fail(404, "Not found: the API lives under /apps/{app_id}/")
}

// route authenticates and dispatches /apps/{id}/...
func (a *API) route(req *fasthttp.Request, path string) (busCall, *apiError) {
	rest := strings.TrimPrefix(path, "/apps/")
	appID, rest, _ := strings.Cut(rest, "/")
	app := a.hub.AppByID(appID)
	if app == nil {
		return nil, fail(404, "No matching application for ID ["+appID+"]")
	}
	parts := strings.Split(rest, "/")
	var h handler
	want := "GET"
	switch {
	case rest == "events":
		h, want = a.events, "POST"
	case rest == "batch_events":
		h, want = a.batchEvents, "POST"
	case rest == "channels":
		h = a.channels
	case len(parts) == 2 && parts[0] == "channels":
		h = a.channel
	case len(parts) == 3 && parts[0] == "channels" && parts[2] == "users":
		h = a.users
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "terminate_connections":
		h, want = a.terminate, "POST"
	case rest == "connections":
		h = a.connections
	default:
		return nil, fail(404, "Not found: no API route "+path)
	}
	if string(req.Header.Method()) != want {
		e := fail(405, "Method not allowed: use "+want+" for "+path)
		e.allow = want
		return nil, e
	}
	if err := a.authenticate(req, app, path); err != nil {
		return nil, err
	}
	if len(req.Body()) > app.MaxRequestSize {
		return nil, fail(413, "Payload too large: this app's max_request_size is "+strconv.Itoa(app.MaxRequestSize)+" bytes")
	}
	return h(req, app, parts)
}
