package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadResponseForms(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" +
		"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	for i, want := range []struct {
		status int
		close  bool
	}{{200, false}, {401, false}, {200, true}} {
		st, cl, err := readResponse(br)
		if err != nil || st != want.status || cl != want.close {
			t.Fatalf("response %d: status=%d close=%v err=%v", i, st, cl, err)
		}
	}
}

func TestAppendEventBodyMatchesDocsShape(t *testing.T) {
	got := string(appendEventBody(nil, "foo", []string{"project-3"}, []byte(`{\"some\":\"data\"}`)))
	want := `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	if got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}
