package hub

import (
	"bytes"
	"testing"
)

func TestCompressionDefaults(t *testing.T) {
	c := AppConfig{}.WithDefaults()
	if !c.CompressionEnabled() || c.CompressionMinBytes != 512 {
		t.Fatalf("defaults: compression %v, min bytes %d; want true, 512", c.CompressionEnabled(), c.CompressionMinBytes)
	}
	off := false
	c = AppConfig{Compression: &off, CompressionMinBytes: 100}.WithDefaults()
	if c.CompressionEnabled() || c.CompressionMinBytes != 100 {
		t.Fatalf("set values: compression %v, min bytes %d; want false, 100", c.CompressionEnabled(), c.CompressionMinBytes)
	}
}

// Options.AppFrame gives each app its own framing for everything it sends
// (broadcasts and replies), and an app it returns nil for keeps Frame.
func TestAppFrameFramesEachAppItsOwnWay(t *testing.T) {
	apps := []AppConfig{
		{ID: "own", Key: "own-key", Secret: "s"},
		{ID: "shared", Key: "shared-key", Secret: "s"},
	}
	h, err := New(apps, Options{Loops: 1,
		Frame: func(p []byte) []byte { return append([]byte("plain:"), p...) },
		AppFrame: func(c AppConfig) func([]byte) []byte {
			if c.ID != "own" {
				return nil
			}
			return func(p []byte) []byte { return append([]byte(c.ID+":"), p...) }
		}})
	if err != nil {
		t.Fatal(err)
	}
	h.AttachLoop(0, inlineExecutor{})
	t.Cleanup(func() { _ = h.Close() })
	for _, c := range apps {
		a := h.AppByID(c.ID)
		s, out := openSocket(t, h, a)
		s.Handle(subscribeMsg("news"))
		out.waitFrames(t, 1)
		publish(t, a, "news", `{}`)
		out.waitFrames(t, 2)
		want := []byte("plain:")
		if c.ID == "own" {
			want = []byte("own:")
		}
		out.mu.Lock()
		for i, f := range out.frames {
			if !bytes.HasPrefix(f, want) {
				t.Errorf("app %s, frame %d: %q, want the prefix %q", c.ID, i, f, want)
			}
		}
		out.mu.Unlock()
	}
}

// plainOutbox is a socket that did not negotiate compression.
type plainOutbox struct{ *recordingOutbox }

func (plainOutbox) Compresses() bool { return false }

// A message for one socket is framed the app's way (compressed) only for a
// socket that reads it so; a broadcast is framed once, for everyone.
func TestUnicastIsCompressedOnlyForSocketsThatNegotiatedIt(t *testing.T) {
	apps := []AppConfig{{ID: "own", Key: "own-key", Secret: "s"}}
	h, err := New(apps, Options{Loops: 1,
		Frame: func(p []byte) []byte { return append([]byte("plain:"), p...) },
		AppFrame: func(c AppConfig) func([]byte) []byte {
			return func(p []byte) []byte { return append([]byte("own:"), p...) }
		}})
	if err != nil {
		t.Fatal(err)
	}
	h.AttachLoop(0, inlineExecutor{})
	t.Cleanup(func() { _ = h.Close() })
	a := h.AppByID("own")
	out := plainOutbox{&recordingOutbox{}}
	s, code, msg := h.Open(a, 0, out)
	if s == nil {
		t.Fatalf("open refused: %d %s", code, msg)
	}
	s.Handle(subscribeMsg("news"))
	out.waitFrames(t, 1)
	publish(t, a, "news", `{}`)
	out.waitFrames(t, 2)
	out.mu.Lock()
	defer out.mu.Unlock()
	if !bytes.HasPrefix(out.frames[0], []byte("plain:")) {
		t.Errorf("subscription_succeeded to a plain socket: %q, want it framed plain", out.frames[0])
	}
	if !bytes.HasPrefix(out.frames[1], []byte("own:")) {
		t.Errorf("broadcast: %q, want the app's shared frame", out.frames[1])
	}
}
