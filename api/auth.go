package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/resound/resound/hub"
	"github.com/resound/resound/protocol"
	"github.com/valyala/fasthttp"
)

// authenticate checks the request exactly as the Pusher SDKs sign it.
func (a *API) authenticate(req *fasthttp.Request, app *hub.App, path string) *apiError {
	var params []protocol.QueryParam
	var sig, key, ts, version, md5 string
	for k, v := range req.URI().QueryArgs().All() {
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
	window := a.opts.AuthTimestampWindow
	if d := time.Since(time.Unix(sec, 0)); d > window || d < -window {
		return fail(401, "Stale auth_timestamp: it is "+strconv.FormatInt(int64(d.Seconds()), 10)+"s from server time, the window is "+strconv.Itoa(int(window.Seconds()))+"s; check the clock")
	}
	body := req.Body()
	if len(body) > 0 || md5 != "" {
		if !strings.EqualFold(md5, protocol.BodyMD5(body)) {
			return fail(401, "Invalid body_md5: it does not match the body received")
		}
	}
	if !protocol.VerifySignature(app.Secret, string(req.Header.Method()), path, params, sig) {
		return fail(401, "Invalid auth_signature: expected HMAC-SHA256 of \"METHOD\\n/apps/...\\nsorted query\" with this app's secret")
	}
	return nil
}
