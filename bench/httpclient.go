package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// apiClient is a minimal HTTP/1.1 client for the Pusher events API. It is
// hand-written rather than net/http so the publisher costs a few µs per
// request and keep-alive is exactly what the flag says: one connection,
// reused until the server closes it, or (keepAlive=false) a fresh
// connection with "Connection: close" per request.
type apiClient struct {
	t         target
	app       app
	keepAlive bool
	src       net.IP
	conn      net.Conn
	br        *bufio.Reader
	req       []byte
	body      []byte
	path      string
	reused    bool
	dials     int
}

func newAPIClient(t target, a app, keepAlive bool, src net.IP) *apiClient {
	return &apiClient{t: t, app: a, keepAlive: keepAlive, src: src, path: "/apps/" + a.ID + "/events"}
}

func (c *apiClient) dial() error {
	d := net.Dialer{Timeout: 5 * time.Second}
	if c.src != nil && c.t.IP.To4() != nil {
		d.LocalAddr = &net.TCPAddr{IP: c.src}
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
		}
	}
	conn, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(c.t.IP.String(), strconv.Itoa(c.t.Port)))
	if err != nil {
		return err
	}
	c.dials++
	c.conn = conn
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 16<<10)
	} else {
		c.br.Reset(conn)
	}
	c.reused = false
	return nil
}

func (c *apiClient) closeConn() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// appendEventBody appends {"name":..,"channels":[..],"data":"<data>"}; data
// must already be escaped for use inside a JSON string.
func appendEventBody(b []byte, name string, channels []string, escapedData []byte) []byte {
	b = append(b, `{"name":"`...)
	b = append(b, name...)
	b = append(b, `","channels":[`...)
	for i, ch := range channels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, ch...)
		b = append(b, '"')
	}
	b = append(b, `],"data":"`...)
	b = append(b, escapedData...)
	b = append(b, `"}`...)
	return b
}

// post sends one signed POST with body and returns the HTTP status.
func (c *apiClient) post(body []byte) (int, error) {
	status, err := c.postOnce(body)
	if err != nil && c.reused {
		// A kept-alive connection may have been closed by the server between
		// requests; that is not a failed publish, so retry once on a new one.
		c.closeConn()
		status, err = c.postOnce(body)
	}
	if err != nil {
		c.closeConn()
	}
	return status, err
}

func (c *apiClient) postOnce(body []byte) (int, error) {
	if c.conn == nil {
		if err := c.dial(); err != nil {
			return 0, err
		}
	} else {
		c.reused = true
	}
	q := signedQuery(c.app, "POST", c.path, body, time.Now().Unix())
	r := c.req[:0]
	r = append(r, "POST "...)
	r = append(r, c.path...)
	r = append(r, '?')
	r = append(r, q...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, c.t.HostPort...)
	r = append(r, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	r = strconv.AppendInt(r, int64(len(body)), 10)
	if !c.keepAlive {
		r = append(r, "\r\nConnection: close"...)
	}
	r = append(r, "\r\n\r\n"...)
	r = append(r, body...)
	c.req = r
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(r); err != nil {
		return 0, err
	}
	status, closeAfter, err := readResponse(c.br)
	if err != nil {
		return 0, err
	}
	if closeAfter || !c.keepAlive {
		c.closeConn()
	}
	return status, nil
}

var errBadResponse = errors.New("malformed HTTP response")

// readResponse reads one response, discarding the body, and says whether
// the server will close the connection.
func readResponse(br *bufio.Reader) (status int, closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, errBadResponse
	}
	closeAfter = line[7] == '0' // HTTP/1.0 closes unless told otherwise
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, errBadResponse
	}
	contentLength := int64(-1)
	chunked := false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			contentLength, _ = strconv.ParseInt(string(v), 10, 64)
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			lv := bytes.ToLower(v)
			closeAfter = bytes.Contains(lv, []byte("close")) || (closeAfter && !bytes.Contains(lv, []byte("keep-alive")))
		}
	}
	switch {
	case chunked:
		err = discardChunked(br)
	case contentLength >= 0:
		_, err = br.Discard(int(contentLength))
	default:
		_, err = io.Copy(io.Discard, br) // body until close
		closeAfter = true
	}
	return status, closeAfter, err
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sz, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		n, err := strconv.ParseInt(string(sz), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", sz)
		}
		if n == 0 {
			for { // trailers end with an empty line
				l, err := br.ReadSlice('\n')
				if err != nil || len(bytes.TrimSpace(l)) == 0 {
					return err
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}
