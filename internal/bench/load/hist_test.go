package load

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	c := h.Snapshot()
	if c.Total() != 1000 {
		t.Fatalf("total %d, want 1000", c.Total())
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := c.Quantile(tc.q)
		if d := got - tc.want; d < -tc.want/20 || d > tc.want/20 {
			t.Errorf("Quantile(%v) = %v, want %v within 5%%", tc.q, got, tc.want)
		}
	}
	var m Counts
	m.Merge(c)
	m.Merge(c)
	if m.Total() != 2000 || m.Quantile(0.5) != c.Quantile(0.5) {
		t.Errorf("merged total %d p50 %v, want 2000 and %v", m.Total(), m.Quantile(0.5), c.Quantile(0.5))
	}
}

func TestBucketsCoverRange(t *testing.T) {
	prev := -1
	for v := int64(0); v < int64(time.Hour); v = v*11/10 + 1 {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d, below %d", v, b, prev)
		}
		prev = b
		if b < histBuckets-1 {
			mid := bucketValue(b)
			if d := mid - v; d > v/histSub+1 || -d > v/histSub+1 {
				t.Fatalf("bucketValue(bucketOf(%d)) = %d, too far", v, mid)
			}
		}
	}
}
