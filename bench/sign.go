package main

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
)

// app identifies the Pusher application the bench talks to. The bench knows
// the secret so it can sign HTTP API calls and private/presence channel auth
// itself, the way an app backend would.
type app struct {
	ID     string
	Key    string
	Secret string
}

// hmacHex returns hex(HMAC-SHA256(secret, msg)), the primitive behind both
// the HTTP API signature and channel auth.
func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// signedQuery returns the query string (without '?') for an HTTP API request,
// signed as the Pusher docs describe: every param except auth_signature,
// sorted by key, joined k=v with '&', not URL-escaped, signed together with
// the method and path.
func signedQuery(a app, method, path string, body []byte, timestamp int64) string {
	params := map[string]string{
		"auth_key":       a.Key,
		"auth_timestamp": strconv.FormatInt(timestamp, 10),
		"auth_version":   "1.0",
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		params["body_md5"] = hex.EncodeToString(sum[:])
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var q strings.Builder
	for i, k := range keys {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(k)
		q.WriteByte('=')
		q.WriteString(params[k])
	}
	query := q.String()
	sig := hmacHex(a.Secret, method+"\n"+path+"\n"+query)
	return query + "&auth_signature=" + sig
}

// channelAuth is the "auth" field of a pusher:subscribe for a private or
// presence channel: key:hex(HMAC(secret, socket_id:channel[:channel_data])).
func channelAuth(a app, socketID, channel, channelData string) string {
	msg := socketID + ":" + channel
	if channelData != "" {
		msg += ":" + channelData
	}
	return a.Key + ":" + hmacHex(a.Secret, msg)
}
