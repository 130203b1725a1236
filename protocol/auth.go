package protocol

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// SignChannel returns the hex HMAC-SHA256 a client presents to join a private
// or presence channel: over "socket_id:channel" plus ":channel_data" when the
// client sent channel data.
func SignChannel(secret, socketID, channel, channelData string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(socketID))
	mac.Write([]byte{':'})
	mac.Write([]byte(channel))
	if channelData != "" {
		mac.Write([]byte{':'})
		mac.Write([]byte(channelData))
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifyChannelAuth checks an auth string of the form "key:signature". The key
// must be the app's key and the signature is compared in constant time.
func VerifyChannelAuth(key, secret, socketID, channel, channelData, auth string) bool {
	k, sig, ok := strings.Cut(auth, ":")
	if !ok || k != key {
		return false
	}
	want := SignChannel(secret, socketID, channel, channelData)
	return hmac.Equal([]byte(sig), []byte(want))
}

// BodyMD5 is the hex md5 the HTTP API signs for a request body.
func BodyMD5(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// QueryParam is one decoded query parameter.
type QueryParam struct{ Key, Value string }

// StringToSign builds "METHOD\npath\nsorted-query" the way every Pusher SDK
// does: all parameters except auth_signature, keys lowercased and sorted,
// joined as k=v with '&' and not escaped.
func StringToSign(method, path string, params []QueryParam) string {
	kept := make([]QueryParam, 0, len(params))
	for _, p := range params {
		k := strings.ToLower(p.Key)
		if k == "auth_signature" {
			continue
		}
		kept = append(kept, QueryParam{k, p.Value})
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Key < kept[j].Key })
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	for i, p := range kept {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}

// SignRequest returns the hex HMAC-SHA256 of the string to sign.
func SignRequest(secret, method, path string, params []QueryParam) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(StringToSign(method, path, params)))
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature compares a presented signature in constant time.
func VerifySignature(secret, method, path string, params []QueryParam, signature string) bool {
	want := SignRequest(secret, method, path, params)
	return hmac.Equal([]byte(strings.ToLower(signature)), []byte(want))
}
