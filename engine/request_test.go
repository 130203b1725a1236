package engine

import (
	"strconv"
	"strings"
	"testing"
)

// feed frames req arriving in pieces of step bytes with one requestScan, as
// readHTTP does, passing the buffer only while the head is not parsed.
func feed(req []byte, step, maxBody int) (requestFrame, *badRequest, int) {
	var s requestScan
	looked := 0
	for n := min(step, len(req)); ; n = min(n+step, len(req)) {
		var buf []byte
		if s.head == 0 {
			buf = req[:s.needs(n)]
			looked += len(buf)
		}
		f, bad := s.frame(buf, n, maxBody)
		if bad != nil || f.total != 0 || n == len(req) {
			return f, bad, looked
		}
	}
}

func apiRequest(body string) []byte {
	return []byte("POST /apps/1/events HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

func TestTrickledBodyIsNotRescanned(t *testing.T) {
	body := strings.Repeat("b", 100_000)
	req := apiRequest(body)
	f, bad, looked := feed(req, 10, 200_000)
	if bad != nil || f.total != len(req) || f.head != len(req)-len(body) {
		t.Fatalf("frame %+v bad %v for %d bytes", f, bad, len(req))
	}
	// Only the head (under 100 bytes here) is ever looked at, packet after
	// packet; the body is waited for by its length alone.
	head := len(req) - len(body)
	if limit := head * head / 10 * 2; looked > limit {
		t.Fatalf("looked at %d bytes, want at most %d: the head must be the only part scanned", looked, limit)
	}
}

func TestIncrementalFramingMatchesOneShot(t *testing.T) {
	reqs := [][]byte{
		apiRequest(`{"name":"e"}`),
		[]byte("GET /up HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\n\r\n"),
		[]byte("GET /app/k HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x80"),
		[]byte("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		[]byte("POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"),
		[]byte("GET /x HTTP/1.1\r\nX: a\x00b\r\n\r\n"),
		[]byte("GET /x HTTP/1.1\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n"),
		[]byte("GET /x HTTP/1.1\r\nX: " + strings.Repeat("a", 9000)),
	}
	for _, req := range reqs {
		want, wantBad := frameRequest(req, 1000)
		for _, step := range []int{1, 3, 10, 4096} {
			got, bad, _ := feed(req, step, 1000)
			if (bad == nil) != (wantBad == nil) || (bad != nil && bad.status != wantBad.status) || (bad == nil && got != want) {
				t.Fatalf("%q in pieces of %d: %+v %v, one shot: %+v %v", req[:min(len(req), 60)], step, got, bad, want, wantBad)
			}
		}
	}
}

func TestRequestLimitsAndErrors(t *testing.T) {
	cases := []struct {
		req    string
		status int
	}{
		{"GET /x HTTP/1.1\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431},
		{"GET /x HTTP/1.1\r\nX: " + strings.Repeat("a", 9000), 431},
		{"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
		{"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413},
		{"GET /x HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400},
		{"GET /x HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400},
		{"GET /x HTTP/1.1\r\nX: a\rb\r\n\r\n", 400},
		{"GET /x HTTP/1.1\nX: a\r\n\r\n", 400},
		{"GET /app/k HTTP/1.1\r\nUpgrade: websocket\r\nX: \x00\r\n\r\n", 400},
	}
	for _, tc := range cases {
		_, bad := frameRequest([]byte(tc.req), 1000)
		if bad == nil || bad.status != tc.status || bad.msg == "" {
			t.Errorf("%q: %+v, want %d", tc.req[:min(len(tc.req), 50)], bad, tc.status)
		}
	}
	if _, bad := frameRequest([]byte("GET /x HTTP/1.1\r\nHost: x\r\nX: a\tb\r\n\r\n"), 1000); bad != nil {
		t.Errorf("a tab is allowed in a header value: %+v", bad)
	}
}

func TestCloseCodeAllowed(t *testing.T) {
	for code, want := range map[uint16]bool{
		0: false, 999: false, 1000: true, 1003: true, 1004: false, 1005: false, 1006: false,
		1007: true, 1011: true, 1014: true, 1015: false, 1016: false, 2999: false,
		3000: true, 4999: true, 5000: false, 65535: false,
	} {
		if got := closeCodeAllowed(code); got != want {
			t.Errorf("closeCodeAllowed(%d) = %v, want %v", code, got, want)
		}
	}
}

func BenchmarkTrickledBodyPerPacket(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			req := apiRequest(strings.Repeat("b", size))
			packets := 0
			for i := 0; i < b.N; i++ {
				var s requestScan
				for n := 10; n < len(req); n += 10 {
					var buf []byte
					if s.head == 0 {
						buf = req[:s.needs(n)]
					}
					_, _ = s.frame(buf, n, 200_000)
					packets++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
		})
	}
}

func TestIsUpgradeIgnoresCase(t *testing.T) {
	cases := map[string]bool{
		"GET /app/k HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n": true,
		"GET /app/k HTTP/1.1\r\nHost: x\r\nUPGRADE: WebSocket\r\n\r\n": true,
		"GET /app/k HTTP/1.1\r\nHost: x\r\nupgrade:websocket\r\n\r\n":  true,
		"GET /app/k HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n":       false,
		"GET /websocket HTTP/1.1\r\nHost: x\r\n\r\n":                   false,
		"": false,
	}
	for head, want := range cases {
		if got := isUpgrade([]byte(head)); got != want {
			t.Errorf("isUpgrade(%q) = %v, want %v", head, got, want)
		}
	}
}
