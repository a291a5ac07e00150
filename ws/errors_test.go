package ws

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// ownWords fails t unless err is set and speaks as package ws: it starts
// with "ws: " and never names the hub inside the package.
func ownWords(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error", what)
	case !strings.HasPrefix(err.Error(), "ws: ") || strings.Contains(err.Error(), "hub:"):
		t.Errorf("%s: %q, want the words of package ws", what, err)
	}
}

// TestPublishTooLarge: a message larger than HistoryBytes is refused in
// ws's words.
func TestPublishTooLarge(t *testing.T) {
	h := NewHub(HubOptions{HistoryBytes: 1024})
	defer h.Shutdown(t.Context())
	big := bytes.Repeat([]byte("x"), 2048)
	for name, publish := range map[string]func() error{
		"Publish":   func() error { _, err := h.Publish("a", MessageText, big); return err },
		"PublishAt": func() error { _, err := h.PublishAt(100, "a", MessageBinary, big); return err },
	} {
		err := publish()
		ownWords(t, name, err)
		if !errors.Is(err, errTooLarge) {
			t.Errorf("%s of %d bytes: %v, want errTooLarge", name, len(big), err)
		}
	}
	if _, err := h.Publish("a", MessageText, []byte("small")); err != nil {
		t.Errorf("Publish after a refusal: %v", err)
	}
}

// TestSequenceErrors: PublishAt, SkipTo and a Publish with no number left
// answer in ws's words, ErrStale where a number is not above the last.
func TestSequenceErrors(t *testing.T) {
	h := NewHub(HubOptions{})
	defer h.Shutdown(t.Context())
	if _, err := h.PublishAt(5, "a", MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err := h.PublishAt(5, "a", MessageText, []byte("x"))
	ownWords(t, "PublishAt of a stale number", err)
	if !errors.Is(err, ErrStale) {
		t.Errorf("PublishAt of a stale number: %v, want ErrStale", err)
	}
	if _, err := h.PublishAt(0, "a", MessageText, []byte("x")); !errors.Is(err, ErrStale) {
		t.Errorf("PublishAt(0): %v, want ErrStale", err)
	}
	err = h.SkipTo(3)
	ownWords(t, "SkipTo a stale number", err)
	if !errors.Is(err, ErrStale) {
		t.Errorf("SkipTo a stale number: %v, want ErrStale", err)
	}
	if _, err := h.PublishAt(math.MaxUint64, "a", MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err = h.Publish("a", MessageText, []byte("x"))
	ownWords(t, "Publish after the last number", err)
}

// TestClosedErrors: after Shutdown, Publish, PublishAt and SkipTo return
// ErrClosed.
func TestClosedErrors(t *testing.T) {
	h := NewHub(HubOptions{})
	if err := h.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := h.Publish("a", MessageText, []byte("x"))
	ownWords(t, "Publish after Shutdown", err)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Shutdown: %v, want ErrClosed", err)
	}
	_, err = h.PublishAt(7, "a", MessageText, []byte("x"))
	if !errors.Is(err, ErrClosed) {
		t.Errorf("PublishAt after Shutdown: %v, want ErrClosed", err)
	}
	err = h.SkipTo(9)
	ownWords(t, "SkipTo after Shutdown", err)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("SkipTo after Shutdown: %v, want ErrClosed", err)
	}
}

// failingWriter fails every write with errDisk.
type failingWriter struct{}

var errDisk = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDisk }

// TestHistoryErrors: SaveHistory and LoadHistory fail in ws's words, with
// the writer's error wrapped.
func TestHistoryErrors(t *testing.T) {
	h := NewHub(HubOptions{})
	defer h.Shutdown(t.Context())
	if _, err := h.Publish("a", MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	err := h.SaveHistory(failingWriter{})
	ownWords(t, "SaveHistory to a failing writer", err)
	if !errors.Is(err, errDisk) {
		t.Errorf("SaveHistory to a failing writer: %v, want its error wrapped", err)
	}
	var saved bytes.Buffer
	if err := h.SaveHistory(&saved); err != nil {
		t.Fatal(err)
	}
	ownWords(t, "LoadHistory on a Hub in use", h.LoadHistory(bytes.NewReader(saved.Bytes())))

	fresh := NewHub(HubOptions{})
	defer fresh.Shutdown(t.Context())
	ownWords(t, "LoadHistory of garbage", fresh.LoadHistory(strings.NewReader("not a history")))
	if err := fresh.LoadHistory(&saved); err != nil {
		t.Errorf("LoadHistory of a saved history: %v", err)
	}
}

// TestNewHubBadEpoch: NewHub panics on an Epoch that cannot prefix IDs,
// naming the option, in ws's words.
func TestNewHubBadEpoch(t *testing.T) {
	defer func() {
		msg := fmt.Sprint(recover())
		if !strings.HasPrefix(msg, "ws: NewHub: Epoch ") || strings.Contains(msg, "hub:") {
			t.Errorf("NewHub with a bad Epoch panicked with %q, want the words of package ws", msg)
		}
	}()
	NewHub(HubOptions{Epoch: "two words"})
}
