package load_test

import (
	"fmt"
	"time"

	"github.com/realtime-go/realtime/internal/bench/load"
)

func ExampleHistogram() {
	var h load.Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	c := h.Snapshot()
	fmt.Println(c.Total(), "recorded, max", c.Quantile(1))
	// Output: 100 recorded, max 100ms
}
