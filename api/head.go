package api

import "bytes"

// requestHead is what the event loop reads of a request before handing it
// on: enough to answer a health check, or refuse one with 503, without
// parsing headers into a structure, checking signatures or reading JSON.
type requestHead struct {
	method []byte
	path   []byte // without the query string
	// close: the client asked to close after the response (Connection:
	// close, or HTTP/1.0 without keep-alive).
	close bool
}

// parseHead reads the request line and the Connection header of a complete
// request. The engine has already framed it, so this only has to find
// fields; anything it cannot read is left to the full parser (ok false).
func parseHead(raw []byte) (h requestHead, ok bool) {
	end := bytes.Index(raw, []byte("\r\n"))
	if end < 0 {
		return h, false
	}
	line := raw[:end]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return h, false
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 {
		return h, false
	}
	h.method, h.path = line[:sp1], line[sp1+1:sp2]
	if q := bytes.IndexByte(h.path, '?'); q >= 0 {
		h.path = h.path[:q]
	}
	http10 := bytes.Equal(line[sp2+1:], []byte("HTTP/1.0"))
	closeAsked, keepAlive := false, false
	rest := raw[end+2:]
	for {
		eol := bytes.Index(rest, []byte("\r\n"))
		if eol <= 0 { // the blank line ending the head, or no more lines
			break
		}
		name, value, found := bytes.Cut(rest[:eol], []byte(":"))
		if found && bytes.EqualFold(bytes.TrimSpace(name), []byte("Connection")) {
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				closeAsked = closeAsked || bytes.EqualFold(tok, []byte("close"))
				keepAlive = keepAlive || bytes.EqualFold(tok, []byte("keep-alive"))
			}
		}
		rest = rest[eol+2:]
	}
	h.close = closeAsked || (http10 && !keepAlive)
	return h, true
}

// healthRoute names the health check a path asks for ("up", "ready") or
// returns "". They answer at the root and under the prefix, since load
// balancers probe the root.
func healthRoute(path []byte, prefix string) string {
	if prefix != "" && bytes.HasPrefix(path, []byte(prefix)) {
		if rest := path[len(prefix):]; len(rest) > 0 && rest[0] == '/' {
			path = rest
		}
	}
	switch string(path) { // no allocation: the compiler compares in place
	case "/up":
		return "up"
	case "/ready":
		return "ready"
	}
	return ""
}
