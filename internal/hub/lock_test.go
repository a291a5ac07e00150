package hub

import (
	"context"
	"testing"
	"time"
)

// No client request holds the hub's lock, which Publish needs, while it
// waits for a topic's lock: a topic's log read at length by replaying
// writers (here, one stalled reader) holds up neither a resume's Subscribe
// nor Join nor Close, so a Publish to another topic goes through. (A
// resume read the log under the hub's lock, waiting for the readers to
// finish: 300 resumes held publishing up for seconds.)
func TestStalledReaderHoldsUpNoRequest(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	for range 3 {
		publish(t, h, "a", "x")
	}
	reader, _, _ := subscribe(t, h, "", "b")
	defer reader.Close()
	h.mu.Lock()
	a := h.lookup("a")
	h.mu.Unlock()
	a.mu.RLock() // a writer reading a's log, stalled
	defer a.mu.RUnlock()

	done := make(chan error)
	go func() {
		s, err := h.Subscribe(context.Background(), []string{"a"}, "E-1")
		if err == nil {
			err = s.Join("c")
			s.Close()
		}
		if err == nil {
			_, err = h.Publish("b", func(string) []byte { return []byte("live") })
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // only catches the hang
		t.Fatal("a resume, Join or Close waited for a topic's readers, holding the hub's lock: Publish to another topic is held up")
	}
	if got := reader.take(t); len(got) != 1 || string(got[0].Data) != "live" {
		t.Fatalf("the live subscriber got %q", datas(got))
	}
}
