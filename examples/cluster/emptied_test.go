package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// A node whose stream holds no message but has a last sequence (every
// message expired or purged) tells its Broker and Hub where the stream is
// with SkipTo: a client resuming from the stream's last ID, which missed
// nothing, gets the next message and no gap.
func TestEmptiedStreamResumeIsNotAGap(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	for i := range 5 {
		if _, err := publish(context.Background(), a.url, "t", fmt.Sprint(i), ""); err != nil {
			t.Fatal(err)
		}
	}
	js := ns.connect(t)
	s, err := js.Stream(context.Background(), testStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := startTestNode(t, "c", ns.url(), func(o *nodeOptions) { o.CatchUpWait = 100 * time.Millisecond })
	last := c.id(5)
	for _, k := range clientKinds {
		client := k.open(t, c.url, []string{"t"}, last)
		next, err := publish(context.Background(), c.url, "t", "next", "")
		if err != nil {
			t.Fatal(err)
		}
		client.waitCount(t, 1)
		checkExactly(t, k.name+" client", client.snapshot(), []published{next})
		last = next.ID
	}
}
