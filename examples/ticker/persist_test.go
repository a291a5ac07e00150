package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/sse"
)

// TestStateRestart saves a ticker's state, starts a new one from it, and
// checks that a client resumes across the two without a gap.
func TestStateRestart(t *testing.T) {
	leakcheck.Check(t)
	state := filepath.Join(t.TempDir(), "state")
	m1 := newMarket()
	tk := startTicker(t, m1, sse.NewBroker(sse.BrokerOptions{}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, body := openStream(t, ctx, tk.srv.URL+"/events?topic=GLOBEX", "")
	_, lastID := nextQuote(t, r)
	body.Close()
	tk.close()
	if err := saveState(state, m1, tk.broker); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatal(err)
	}

	m2 := newMarket()
	b2 := sse.NewBroker(sse.BrokerOptions{})
	if err := loadState(state, m2, b2); err != nil {
		t.Fatal(err)
	}
	if got, want := m2.snapshot(), m1.snapshot(); got[1] != want[1] {
		t.Errorf("prices after load: %+v, want %+v", got[1], want[1])
	}
	tk2 := startTicker(t, m2, b2)
	r, body = openStream(t, ctx, tk2.srv.URL+"/events?topic=GLOBEX", lastID)
	defer body.Close()
	e, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if e.Type == sse.GapEvent {
		t.Fatalf("resume across a restart with state: gap %s", e.Data)
	}
	if seqOf(t, e.ID) != seqOf(t, lastID)+6 {
		t.Errorf("resumed at %s after %s: want the next GLOBEX move, 6 events later", e.ID, lastID)
	}

	// A state file that is not one fails the start, with the file named.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("{}\nnot a history"), 0o644)
	if err := loadState(bad, newMarket(), sse.NewBroker(sse.BrokerOptions{})); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("loading a bad state file: %v", err)
	}
	// No state file is a first start.
	if err := loadState(filepath.Join(t.TempDir(), "none"), newMarket(), sse.NewBroker(sse.BrokerOptions{})); err != nil {
		t.Errorf("loading a missing state file: %v", err)
	}
}
