package api

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
)

// response is one answer. Every path, the loop's and the workers', renders
// it through fasthttp so they all write the same format.
type response struct {
	status      int
	contentType string
	body        []byte
	allow       string // for 405
	retryAfter  int    // seconds; 0: no Retry-After header
	close       bool
	headOnly    bool // a HEAD request: headers without the body
	// logKind, when set, logs the answer (rate-limited per kind).
	logKind string
}

func jsonResponse(body []byte) response {
	return response{status: 200, contentType: "application/json", body: body}
}

func errorResponse(e *apiError) response {
	return response{status: e.status, contentType: "text/plain; charset=utf-8", body: []byte(e.msg + "\n"),
		allow: e.allow, retryAfter: e.retryAfter, logKind: e.logKind}
}

func (r response) render() []byte {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.SetStatusCode(r.status)
	resp.Header.SetContentType(r.contentType)
	if r.allow != "" {
		resp.Header.Set("Allow", r.allow)
	}
	if r.retryAfter > 0 {
		resp.Header.Set("Retry-After", strconv.Itoa(r.retryAfter))
	}
	if r.close {
		resp.SetConnectionClose()
	}
	resp.SetBody(r.body)
	if r.headOnly {
		resp.Header.SetContentLength(len(r.body))
		resp.SkipBody = true
	}
	var out bytes.Buffer
	_, _ = resp.WriteTo(&out)
	return out.Bytes()
}
