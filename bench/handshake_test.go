package main

import "testing"

func TestWSAcceptRFCExample(t *testing.T) {
	// RFC 6455 section 1.3.
	if got := wsAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("got %s", got)
	}
}

func TestParseUpgradeResponse(t *testing.T) {
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + wsAccept(wsClientKey) + "\r\n\r\n"
	frames := "\x81\x02hi"
	n, err := parseUpgradeResponse([]byte(resp + frames))
	if err != nil || n != len(resp) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if n, err := parseUpgradeResponse([]byte(resp[:20])); n != 0 || err != nil {
		t.Fatalf("partial: n=%d err=%v", n, err)
	}
	if _, err := parseUpgradeResponse([]byte("HTTP/1.1 404 Not Found\r\n\r\n")); err != errHandshakeStatus {
		t.Fatalf("404: err=%v", err)
	}
}
