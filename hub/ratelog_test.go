package hub

import (
	"fmt"
	"testing"
	"time"
)

func TestRateLogWritesOneLinePerSecondPerKindWithACount(t *testing.T) {
	now := time.Unix(1000, 0)
	var lines []string
	r := rateLog{now: func() time.Time { return now }, printf: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }}
	for i := 0; i < 100; i++ {
		r.logf("publish", "lost %d", i)
	}
	r.logf("read", "read failed")
	now = now.Add(999 * time.Millisecond)
	r.logf("publish", "lost %d", 100)
	now = now.Add(time.Millisecond)
	r.logf("publish", "lost %d", 101)
	want := []string{"lost 0", "read failed", "lost 101 (and 100 more like it in the last second)"}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", lines, want)
	}
}
