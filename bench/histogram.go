package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram is a log-linear latency histogram over nanoseconds: exact below
// 256ns, then 128 sub-buckets per power of two, so any recorded value is
// reported within 1/128 (0.8%) of itself. Fixed buckets make histograms from
// worker processes mergeable by adding counts, which exact sample lists
// would not be at millions of samples.
const (
	histSubBits    = 7
	histSubBuckets = 1 << histSubBits // 128
	histBuckets    = (64 - histSubBits) * histSubBuckets
)

type histogram struct {
	counts [histBuckets]uint64
	total  uint64
	min    int64
	max    int64
	sum    float64
}

func histBucket(v int64) int {
	if v < 0 {
		v = 0
	}
	if v < 2*histSubBuckets {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1
	return (shift+1)*histSubBuckets + int(uint64(v)>>uint(shift)) - histSubBuckets
}

// histBucketRange returns the lowest value of bucket b and its width.
func histBucketRange(b int) (low, width int64) {
	if b < 2*histSubBuckets {
		return int64(b), 1
	}
	shift := b/histSubBuckets - 1
	return int64(histSubBuckets+b%histSubBuckets) << uint(shift), 1 << uint(shift)
}

func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0 // clock steps between processes cannot produce negative latency
	}
	h.counts[histBucket(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

func (h *histogram) reset() { *h = histogram{} }

func (h *histogram) merge(o *histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// quantile returns the nearest-rank value at q in [0,1]: the midpoint of the
// bucket holding the ceil(q*total)-th smallest sample, clamped to min/max.
func (h *histogram) quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := histBucketRange(b)
			v := low + (width-1)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// sparse is the wire form used between worker processes: only non-zero
// buckets, as [bucket, count] pairs.
type sparseHist struct {
	Buckets [][2]uint64 `json:"buckets,omitempty"`
	Total   uint64      `json:"total"`
	Min     int64       `json:"min"`
	Max     int64       `json:"max"`
	Sum     float64     `json:"sum"`
}

func (h *histogram) toSparse() sparseHist {
	s := sparseHist{Total: h.total, Min: h.min, Max: h.max, Sum: h.sum}
	for b, c := range h.counts {
		if c != 0 {
			s.Buckets = append(s.Buckets, [2]uint64{uint64(b), c})
		}
	}
	return s
}

func (s sparseHist) toHistogram() *histogram {
	h := &histogram{total: s.Total, min: s.Min, max: s.Max, sum: s.Sum}
	for _, bc := range s.Buckets {
		if bc[0] < histBuckets {
			h.counts[bc[0]] += bc[1]
		}
	}
	return h
}

// latencySummary is what reports show: milliseconds, as floats.
type latencySummary struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func nsToMs(v int64) float64 { return float64(v) / float64(time.Millisecond) }

func (h *histogram) summary() latencySummary {
	s := latencySummary{Count: h.total}
	if h.total == 0 {
		return s
	}
	s.MeanMs = h.sum / float64(h.total) / float64(time.Millisecond)
	s.P50Ms = nsToMs(h.quantile(0.50))
	s.P90Ms = nsToMs(h.quantile(0.90))
	s.P99Ms = nsToMs(h.quantile(0.99))
	s.P999Ms = nsToMs(h.quantile(0.999))
	s.MaxMs = nsToMs(h.max)
	return s
}
