package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// A stream that keeps few messages: a resume from before them, on a node
// that does not hold them either, gets exactly one gap, then what the
// stream holds; a resume from right before them gets no gap.
func TestStreamLimitIsOneGap(t *testing.T) {
	const keep, total = 5, 20
	for _, warm := range []struct {
		name   string
		warmup int
	}{{"newest-only", -1}, {"warm", 0}} {
		for _, k := range clientKinds {
			t.Run(warm.name+"/"+k.name, func(t *testing.T) {
				leakcheck.Check(t)
				ns := startNATS(t)
				limited := func(o *nodeOptions) { o.Stream.MaxMsgs = keep; o.Warmup = warm.warmup }
				a := startTestNode(t, "a", ns.url(), limited)
				var all []published
				for i := range total {
					p, err := publish(context.Background(), a.url, testTopics[i%2], fmt.Sprint("m", i), fmt.Sprint("k", i))
					if err != nil {
						t.Fatal(err)
					}
					all = append(all, p)
				}
				held := all[total-keep:]
				c := startTestNode(t, "c", ns.url(), limited)
				c.waitReady(t)

				client := k.open(t, c.url, testTopics, c.id(2))
				client.waitCount(t, keep)
				msgs := client.snapshot()
				if len(msgs) == 0 || !msgs[0].gap {
					t.Fatalf("resume from seq 2 got %+v first, want a gap", msgs)
				}
				checkExactly(t, "after the gap", msgs[1:], held)

				edge := k.open(t, c.url, testTopics, c.id(total-keep))
				edge.waitCount(t, keep)
				checkExactly(t, "resume from right before the held ones", edge.snapshot(), held)
			})
		}
	}
}
