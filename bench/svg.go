package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// writeSweepSVG draws latency percentiles against offered rate, both on log
// scales, with the p99 bound as a dashed line. Hand-written SVG: no
// dependencies, and it opens in any browser.
func writeSweepSVG(path string, r *runResult) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(sweepSVG(r)), 0o644)
}

func sweepSVG(r *runResult) string {
	const (
		width, height = 760, 440
		left, right   = 70, 150
		top, bottom   = 40, 50
	)
	steps := append([]stepResult(nil), r.Steps...)
	sort.Slice(steps, func(i, j int) bool { return steps[i].Offered < steps[j].Offered })
	series := []struct {
		name  string
		color string
		get   func(latencySummary) float64
	}{
		{"p50", "#1b9e77", func(l latencySummary) float64 { return l.P50Ms }},
		{"p90", "#7570b3", func(l latencySummary) float64 { return l.P90Ms }},
		{"p99", "#d95f02", func(l latencySummary) float64 { return l.P99Ms }},
		{"p99.9", "#e7298a", func(l latencySummary) float64 { return l.P999Ms }},
		{"max", "#666666", func(l latencySummary) float64 { return l.MaxMs }},
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range steps {
		if s.Offered <= 0 || s.Latency.Count == 0 {
			continue
		}
		xmin, xmax = math.Min(xmin, s.Offered), math.Max(xmax, s.Offered)
		for _, se := range series {
			if v := se.get(s.Latency); v > 0 {
				ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
			}
		}
	}
	bound := 0.0
	if r.Sweep != nil {
		bound = r.Sweep.P99BoundMs
	}
	if bound > 0 {
		ymin, ymax = math.Min(ymin, bound), math.Max(ymax, bound)
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 1, 10
	}
	if math.IsInf(ymin, 0) {
		ymin, ymax = 0.1, 100
	}
	// Round the log axes out to whole decades so ticks are 1, 10, 100...
	lx0, lx1 := math.Floor(math.Log10(xmin)), math.Ceil(math.Log10(xmax))
	ly0, ly1 := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
	if lx1 <= lx0 {
		lx1 = lx0 + 1
	}
	if ly1 <= ly0 {
		ly1 = ly0 + 1
	}
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	px := func(x float64) float64 { return left + (math.Log10(x)-lx0)/(lx1-lx0)*pw }
	py := func(y float64) float64 { return top + ph - (math.Log10(y)-ly0)/(ly1-ly0)*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", left, xmlEscape(r.Label))
	// Grid and ticks.
	for d := lx0; d <= lx1; d++ {
		x := px(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, top+ph+18, fmtTick(math.Pow(10, d)))
	}
	for d := ly0; d <= ly1; d++ {
		y := py(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, fmtTick(math.Pow(10, d)))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">offered rate (per second, log scale)</text>`+"\n", left+pw/2, height-10)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">latency ms (log scale)</text>`+"\n", top+ph/2)
	if bound > 0 {
		y := py(bound)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="red" stroke-dasharray="6 4"/>`+"\n", left, y, left+pw, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="red">p99 bound %.0f ms</text>`+"\n", left+pw+6, y+4, bound)
	}
	for i, se := range series {
		var pts []string
		for _, s := range steps {
			if v := se.get(s.Latency); s.Offered > 0 && v > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.Offered), py(v)))
			}
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", se.color, strings.Join(pts, " "))
			for _, p := range pts {
				xy := strings.Split(p, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], se.color)
			}
		}
		ly := float64(top + 20 + i*18)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, left+pw+10, ly, left+pw+30, ly, se.color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+pw+36, ly+4, se.name)
	}
	if r.Sweep != nil && r.Sweep.BestRate > 0 {
		x := px(r.Sweep.BestRate)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#1b9e77" stroke-dasharray="2 3"/>`+"\n", x, top, x, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#1b9e77">best %.0f/s</text>`+"\n", left+pw+6, float64(top+ph-4), r.Sweep.BestRate)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func fmtTick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
