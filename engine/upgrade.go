package engine

import (
	"bytes"
	"errors"
	"net/url"
	"strings"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
)

// maxHeaderBytes caps an HTTP request head, upgrade or API.
const maxHeaderBytes = 8 << 10

// isUpgrade tells a WebSocket handshake from an API request by its headers.
// It looks without copying the head: this runs for every handshake.
func isUpgrade(head []byte) bool {
	return containsFold(head, "\nupgrade:") && containsFold(head, "websocket")
}

// containsFold reports whether b contains the lower-case ASCII word in any
// case.
func containsFold(b []byte, word string) bool {
	for i := 0; i+len(word) <= len(b); i++ {
		j := 0
		for j < len(word) && lowerASCII(b[i+j]) == word[j] {
			j++
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// upgradeRequest is what the handshake tells us: which app, from where.
type upgradeRequest struct {
	appKey string
	origin string
	// deflate: permessage-deflate was negotiated.
	deflate bool
}

var errNotAppPath = ws.RejectConnectionError(ws.RejectionStatus(404), ws.RejectionReason("Not found: WebSocket clients connect to /app/{key}"))

// parseAppPath extracts the key from "{prefix}/app/{key}?query".
func parseAppPath(uri []byte, prefix string) (string, bool) {
	path := string(uri)
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	path = path[len(prefix):]
	if !strings.HasPrefix(path, "/app/") {
		return "", false
	}
	path = path[len("/app/"):]
	if path == "" || strings.Contains(path, "/") {
		return "", false
	}
	key, err := url.PathUnescape(path)
	if err != nil {
		return "", false
	}
	return key, true
}

// upgrade answers the handshake in head (exactly the request's head bytes),
// writing the 101 or an HTTP error to w. offersDeflate (nil: never) says
// whether the app key may negotiate permessage-deflate.
func upgrade(head []byte, prefix string, w interface{ Write([]byte) (int, error) }, offersDeflate func(appKey string) bool) (upgradeRequest, error) {
	var req upgradeRequest
	u := ws.Upgrader{
		ReadBufferSize: maxHeaderBytes,
		OnRequest: func(uri []byte) error {
			key, ok := parseAppPath(uri, prefix)
			if !ok {
				return errNotAppPath
			}
			req.appKey = key
			return nil
		},
		OnHeader: func(key, value []byte) error {
			if strings.EqualFold(string(key), "Origin") {
				req.origin = string(value)
			}
			return nil
		},
		// The request line, hence the app key, comes before any header.
		Negotiate: func(opt httphead.Option) (httphead.Option, error) {
			if offersDeflate == nil || req.deflate || !offersDeflate(req.appKey) {
				return httphead.Option{}, nil
			}
			return negotiateDeflate(opt, &req.deflate), nil
		},
	}
	rw := struct {
		*bytes.Reader
		writer
	}{bytes.NewReader(head), writer{w}}
	if _, err := u.Upgrade(rw); err != nil {
		return req, err
	}
	if req.appKey == "" {
		return req, errors.New("no app key")
	}
	return req, nil
}

type writer struct {
	w interface{ Write([]byte) (int, error) }
}

func (w writer) Write(p []byte) (int, error) { return w.w.Write(p) }

// originAllowed matches the Origin header's host against the app's list:
// "*", an exact host, or "*.example.com" for any subdomain.
func originAllowed(allowed []string, origin string) bool {
	if len(allowed) == 0 {
		return true
	}
	host := origin
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	host = strings.ToLower(host)
	for _, pat := range allowed {
		pat = strings.ToLower(strings.TrimSpace(pat))
		switch {
		case pat == "*":
			return true
		case host == "":
		case strings.HasPrefix(pat, "*."):
			if strings.HasSuffix(host, pat[1:]) {
				return true
			}
		case pat == host:
			return true
		}
	}
	return false
}
