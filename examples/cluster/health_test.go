package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
)

// getHealth returns the node's /healthz answer.
func getHealth(t testing.TB, n *testNode) (int, health) {
	t.Helper()
	resp, err := http.Get(n.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h
}

// /healthz says how far a node lags the stream, and answers 503 past
// MaxLag, until the node catches up.
func TestHealthzReportsLag(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	hold := newGate(2)
	b := startTestNode(t, "b", ns.url(), func(o *nodeOptions) { o.applyGate = hold.wait; o.MaxLag = 3 })
	if h := b.waitReady(t); h.Lag != 0 || h.Applied != 0 {
		t.Fatalf("b before any message: %+v", h)
	}
	for i := range 10 {
		if _, err := publish(context.Background(), a.url, "t", fmt.Sprint(i), ""); err != nil {
			t.Fatal(err)
		}
	}
	waitfor.State(t, "b to report its lag", waitTimeout, func() (bool, string) {
		code, h := getHealth(t, b)
		return code == http.StatusServiceUnavailable && h.LastSeq == 10 && h.Applied == 2 && h.Lag == 8, fmt.Sprintf("%d %+v", code, h)
	})
	hold.release()
	waitfor.State(t, "b to catch up", waitTimeout, func() (bool, string) {
		code, h := getHealth(t, b)
		return code == http.StatusOK && h.Ready && h.Lag == 0 && h.Applied == 10, fmt.Sprintf("%d %+v", code, h)
	})
}

// A node whose stream is deleted and created again (its sequence starting
// over) stops with errStreamRecreated instead of taking the new
// stream's messages for old ones.
func TestStreamRecreatedStopsNode(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	a := startTestNode(t, "a", ns.url(), nil)
	if _, err := publish(context.Background(), a.url, "t", "x", ""); err != nil {
		t.Fatal(err)
	}
	js := ns.connect(t)
	ctx := context.Background()
	if err := js.DeleteStream(ctx, testStream); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, streamOptions{Name: testStream}.config()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-time.After(waitTimeout):
		t.Fatal("node did not stop")
	}
	if !errors.Is(a.Err(), errStreamRecreated) {
		t.Fatalf("node stopped with %v, want errStreamRecreated", a.Err())
	}
	if code, h := getHealth(t, a); code != http.StatusServiceUnavailable || h.Ready {
		t.Fatalf("stopped node's health: %d %+v", code, h)
	}
}
