package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestHistoryAcrossRestart saves a Hub's history after Shutdown, loads it in
// a new Hub, and checks that a client resuming from the first message gets
// the rest with no gap, and that IDs carry on.
func TestHistoryAcrossRestart(t *testing.T) {
	leakcheck.CheckWithin(t, waitTimeout)
	first := NewHub(HubOptions{})
	var ids []string
	for _, text := range []string{"one", "two", "three"} {
		id, err := first.Publish("room", MessageText, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := first.SaveHistory(&saved); err != nil {
		t.Fatal(err)
	}

	second := NewHub(HubOptions{})
	if err := second.LoadHistory(bytes.NewReader(saved.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := second.LoadHistory(bytes.NewReader(saved.Bytes())); err == nil {
		t.Error("second LoadHistory succeeded")
	}
	srv := httptest.NewServer(second)
	defer srv.Close()
	defer second.Shutdown(context.Background())

	c := dial(t, srv.URL+"/?topic=room&lastEventId="+ids[0], nil)
	type envelope struct{ ID, Topic, Data, Type string }
	var got []envelope
	for len(got) < 2 {
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var e envelope
		if err := json.Unmarshal(p, &e); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if e.Type == "gap" {
			t.Fatalf("gap notice after restart: %q", p)
		}
		got = append(got, e)
	}
	if got[0].ID != ids[1] || got[0].Data != "two" || got[1].ID != ids[2] || got[1].Data != "three" {
		t.Errorf("replay after restart = %+v, want %s two, %s three", got, ids[1], ids[2])
	}
	next, err := second.Publish("room", MessageText, []byte("four"))
	if err != nil {
		t.Fatal(err)
	}
	if want := second.Epoch() + "-4"; next != want || second.Epoch() != first.Epoch() {
		t.Errorf("next ID %q, want %q in epoch %q", next, want, first.Epoch())
	}
	c.Close()
}
