package load

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histSub is the number of buckets per power of two: values are kept to
// within 1/histSub (about 3%) of their size.
const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histBuckets = 48 * histSub
)

// Histogram counts durations in log-linear buckets, safe for concurrent
// use. The zero value is empty and ready.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
}

func bucketOf(v int64) int {
	if v < histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - histSubBits - 1
	i := (e+1)*histSub + int(uint64(v)>>e) - histSub
	return min(i, histBuckets-1)
}

// bucketValue returns the middle of bucket i.
func bucketValue(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := i/histSub - 1
	lo := int64(i%histSub+histSub) << e
	return lo + (int64(1)<<e)/2
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Snapshot returns the counts so far.
func (h *Histogram) Snapshot() Counts {
	c := Counts{Buckets: make([]uint64, histBuckets), Max: h.max.Load()}
	for i := range h.counts {
		c.Buckets[i] = h.counts[i].Load()
	}
	return c
}

// Counts is a histogram's content, as load processes send it to the
// parent, which merges them.
type Counts struct {
	Buckets []uint64 `json:"b,omitempty"`
	Max     int64    `json:"max"`
}

// Merge adds o to c.
func (c *Counts) Merge(o Counts) {
	if len(c.Buckets) < len(o.Buckets) {
		c.Buckets = append(c.Buckets, make([]uint64, len(o.Buckets)-len(c.Buckets))...)
	}
	for i, n := range o.Buckets {
		c.Buckets[i] += n
	}
	c.Max = max(c.Max, o.Max)
}

// Total returns how many durations were recorded.
func (c Counts) Total() uint64 {
	var n uint64
	for _, v := range c.Buckets {
		n += v
	}
	return n
}

// Quantile returns the duration below which a fraction q of the recorded
// ones fall, within the bucket precision; 0 when empty. Quantile(1) is the
// exact maximum.
func (c Counts) Quantile(q float64) time.Duration {
	total := c.Total()
	if total == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(c.Max)
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i, n := range c.Buckets {
		seen += n
		if seen >= rank {
			return time.Duration(min(bucketValue(i), c.Max))
		}
	}
	return time.Duration(c.Max)
}
