package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func exactNearestRank(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func TestHistogramBucketsAreContiguous(t *testing.T) {
	prevEnd := int64(0)
	for b := 0; b < histBuckets-1; b++ {
		low, width := histBucketRange(b)
		if low != prevEnd {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", b, low, prevEnd)
		}
		if histBucket(low) != b || histBucket(low+width-1) != b {
			t.Fatalf("bucket %d: values %d..%d map to %d..%d", b, low, low+width-1, histBucket(low), histBucket(low+width-1))
		}
		prevEnd = low + width
	}
	if histBucket(math.MaxInt64) >= histBuckets {
		t.Fatalf("MaxInt64 maps out of range")
	}
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h histogram
	var samples []int64
	for range 200000 {
		// Log-normal-ish latencies from ~50µs to seconds, like a real run.
		v := int64(math.Exp(r.NormFloat64()*1.5+13.5)) + 1000
		samples = append(samples, v)
		h.record(v)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		want := exactNearestRank(samples, q)
		got := h.quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
			t.Errorf("q=%v: got %d want %d (rel err %.4f)", q, got, want, rel)
		}
	}
	if h.max != samples[len(samples)-1] || h.min != samples[0] {
		t.Errorf("min/max not exact: %d/%d", h.min, h.max)
	}
}

func TestHistogramSmallExactAndEmpty(t *testing.T) {
	var h histogram
	if h.quantile(0.99) != 0 || h.summary().Count != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	for v := int64(1); v <= 100; v++ {
		h.record(v)
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 50}, {0.9, 90}, {0.99, 99}, {0.999, 100}, {1, 100}} {
		if got := h.quantile(c.q); got != c.want {
			t.Errorf("q=%v got %d want %d", c.q, got, c.want)
		}
	}
}

func TestHistogramMergeAndSparseRoundTrip(t *testing.T) {
	var a, b, all histogram
	for i := int64(0); i < 5000; i++ {
		v := i*i*37 + 5
		all.record(v)
		if i%2 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	merged := a.toSparse().toHistogram()
	merged.merge(b.toSparse().toHistogram())
	if merged.total != all.total || merged.min != all.min || merged.max != all.max || merged.counts != all.counts {
		t.Fatal("merged sparse histograms differ from the combined one")
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if merged.quantile(q) != all.quantile(q) {
			t.Errorf("q=%v differs after merge", q)
		}
	}
}

func TestHistogramNegativeClampsToZero(t *testing.T) {
	var h histogram
	h.record(-5)
	if h.min != 0 || h.max != 0 || h.quantile(1) != 0 {
		t.Fatalf("negative latency not clamped: %+v", h.summary())
	}
}
