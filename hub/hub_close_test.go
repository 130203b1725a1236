package hub

import "testing"

// The engine closes the hub when it stops and a drain may close it too: the
// second call must be harmless.
func TestHubClosesOnce(t *testing.T) {
	h, err := New([]AppConfig{{ID: "a", Key: "k", Secret: "s"}}, Options{Loops: 1, Frame: func(p []byte) []byte { return p }})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
