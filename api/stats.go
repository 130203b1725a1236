package api

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// stats reports process memory for benchmarks (only with ExposeStats).
func (a *API) stats(gc bool) map[string]any {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out := map[string]any{
		"rss_bytes":         rssBytes(),
		"heap_inuse_bytes":  ms.HeapInuse,
		"heap_objects":      ms.HeapObjects,
		"stack_inuse_bytes": ms.StackInuse,
		"goroutines":        runtime.NumGoroutine(),
		"connections":       a.srv.OpenConnections(),
	}
	if a.opts.Webhooks != nil {
		out["webhooks"] = a.opts.Webhooks()
	}
	return out
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
