package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
)

// The upgrade request is identical for every socket of a run, so it is
// built once; the accept value is checked to be sure a real WebSocket
// server (not a proxy error page) answered.

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// fixed client key: validity of the handshake does not depend on its
// randomness, and a fixed key lets the request be shared.
const wsClientKey = "cmVzb3VuZC1iZW5jaC1rZXk="

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func buildUpgradeRequest(hostport, appKey string) []byte {
	return buildUpgradeRequestWith(hostport, appKey, "")
}

// buildUpgradeRequestWith adds extra header lines (each ending in CRLF).
func buildUpgradeRequestWith(hostport, appKey, extra string) []byte {
	return []byte("GET /app/" + appKey + "?protocol=7&client=bench&version=1.0 HTTP/1.1\r\n" +
		"Host: " + hostport + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wsClientKey + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" + extra + "\r\n")
}

var (
	errHandshakeStatus = errors.New("handshake: status is not 101")
	errHandshakeAccept = errors.New("handshake: bad Sec-WebSocket-Accept")
	errHandshakeSize   = errors.New("handshake: response header too large")
)

var expectedAccept = []byte(wsAccept(wsClientKey))

// parseUpgradeResponse looks for a complete response header at the front of
// buf. It returns the header length (0 when incomplete) so the bytes after it
// can be parsed as frames: servers often send connection_established in the
// same segment as the 101.
func parseUpgradeResponse(buf []byte) (int, error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > 8<<10 {
			return 0, errHandshakeSize
		}
		return 0, nil
	}
	head := buf[:end+4]
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		return 0, errHandshakeStatus
	}
	if !bytes.Contains(head, expectedAccept) {
		return 0, errHandshakeAccept
	}
	return end + 4, nil
}
