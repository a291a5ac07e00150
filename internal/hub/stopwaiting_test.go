package hub

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// StopWaiting ends the resumes that wait for the hub to apply their ID,
// at once, with ErrClosed, and refuses later ones; other resumes and
// Publish go on.
func TestStopWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, Options{Epoch: "S", CatchUpWait: time.Hour})
		defer h.Close()
		h.PublishAt(1, "a", func(string) []byte { return []byte("1") })
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := h.Subscribe(context.Background(), []string{"a"}, "S-5")
			done <- err
		}()
		synctest.Wait()
		if n := h.Stats().Waiting; n != 1 {
			t.Fatalf("Waiting = %d, want 1", n)
		}
		h.StopWaiting()
		if err := <-done; !errors.Is(err, ErrClosed) || time.Since(start) != 0 {
			t.Errorf("the waiting resume: %v after %v, want ErrClosed at once", err, time.Since(start))
		}
		if _, err := h.Subscribe(context.Background(), []string{"a"}, "S-5"); !errors.Is(err, ErrClosed) {
			t.Errorf("a later resume ahead: %v, want ErrClosed", err)
		}
		s, err := h.Subscribe(context.Background(), []string{"a"}, "S-0")
		if err != nil {
			t.Fatalf("a resume behind: %v", err)
		}
		defer s.Close()
		if _, err := h.PublishAt(2, "a", func(string) []byte { return []byte("2") }); err != nil {
			t.Fatal(err)
		}
		if got := takeAll(s); len(got) != 2 || h.Stats().Waiting != 0 {
			t.Errorf("the resume behind got %q, Waiting %d", got, h.Stats().Waiting)
		}
	})
}
