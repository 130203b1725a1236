package protocol

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sort"
	"strings"
	"sync"
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
// Every private and presence subscription is checked here, so it reuses a
// keyed HMAC and its buffers: a fresh one is ~1 KB of garbage per
// subscription, which a burst of subscriptions leaves as holes between the
// live records in the heap.
func VerifyChannelAuth(key, secret, socketID, channel, channelData, auth string) bool {
	k, sig, ok := strings.Cut(auth, ":")
	if !ok || k != key {
		return false
	}
	v := channelVerifierFor(secret)
	m := v.pool.Get().(*channelMAC)
	defer v.pool.Put(m)
	m.mac.Reset()
	m.buf = append(m.buf[:0], socketID...)
	m.buf = append(m.buf, ':')
	m.buf = append(m.buf, channel...)
	if channelData != "" {
		m.buf = append(m.buf, ':')
		m.buf = append(m.buf, channelData...)
	}
	m.mac.Write(m.buf)
	sum := m.mac.Sum(m.sum[:0])
	want := hex.AppendEncode(m.hex[:0], sum)
	m.buf = append(m.buf[:0], sig...)
	if cap(m.buf) > maxKeptAuthBuffer {
		defer func() { m.buf = nil }()
	}
	return hmac.Equal(m.buf, want)
}

// maxKeptAuthBuffer bounds the message buffer a pooled HMAC keeps: huge
// channel_data is rare and should not stay allocated.
const maxKeptAuthBuffer = 4 << 10

// channelVerifier is the pool of HMACs keyed with one app secret.
type channelVerifier struct{ pool sync.Pool }

type channelMAC struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte
	hex [2 * sha256.Size]byte
}

// channelVerifiers holds one pool per app secret (a sync.Map would box the
// secret into an interface, an allocation per lookup).
var channelVerifiers struct {
	mu       sync.RWMutex
	bySecret map[string]*channelVerifier
}

func channelVerifierFor(secret string) *channelVerifier {
	cv := &channelVerifiers
	cv.mu.RLock()
	v := cv.bySecret[secret]
	cv.mu.RUnlock()
	if v != nil {
		return v
	}
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if v = cv.bySecret[secret]; v == nil {
		if cv.bySecret == nil {
			cv.bySecret = map[string]*channelVerifier{}
		}
		v = &channelVerifier{}
		v.pool.New = func() any { return &channelMAC{mac: hmac.New(sha256.New, []byte(secret))} }
		cv.bySecret[secret] = v
	}
	return v
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
