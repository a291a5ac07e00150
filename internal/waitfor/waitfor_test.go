package waitfor_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/waitfor"
)

func TestCond(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	waitfor.Cond(t, "three", time.Minute, func() bool { return n.Load() == 3 })
}
