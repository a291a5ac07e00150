package sse

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// ownWords fails t unless err is set and speaks as package sse: it starts
// with "sse: " and never names the hub inside the package.
func ownWords(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error", what)
	case !strings.HasPrefix(err.Error(), "sse: ") || strings.Contains(err.Error(), "hub"):
		t.Errorf("%s: %q, want the words of package sse", what, err)
	}
}

// TestPublishTooLarge: an event larger than HistoryBytes is refused with
// sse.ErrTooLarge, in sse's words.
func TestPublishTooLarge(t *testing.T) {
	b := NewBroker(BrokerOptions{HistoryBytes: 1024})
	defer b.Shutdown(t.Context())
	big := Event{Data: strings.Repeat("x", 2048)}
	for name, publish := range map[string]func() error{
		"Publish":   func() error { _, err := b.Publish("a", big); return err },
		"PublishAt": func() error { _, err := b.PublishAt(100, "a", big); return err },
	} {
		err := publish()
		ownWords(t, name, err)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s of %d bytes: %v, want ErrTooLarge", name, len(big.Data), err)
		}
	}
	if _, err := b.Publish("a", Event{Data: "small"}); err != nil {
		t.Errorf("Publish after a refusal: %v", err)
	}
}

// TestSequenceErrors: PublishAt, SkipTo and a Publish with no number left
// answer in sse's words, ErrStale where a number is not above the last.
func TestSequenceErrors(t *testing.T) {
	b := NewBroker(BrokerOptions{})
	defer b.Shutdown(t.Context())
	if _, err := b.PublishAt(5, "a", Event{Data: "x"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.PublishAt(5, "a", Event{Data: "x"})
	ownWords(t, "PublishAt of a stale number", err)
	if !errors.Is(err, ErrStale) {
		t.Errorf("PublishAt of a stale number: %v, want ErrStale", err)
	}
	if _, err := b.PublishAt(0, "a", Event{Data: "x"}); !errors.Is(err, ErrStale) {
		t.Errorf("PublishAt(0): %v, want ErrStale", err)
	}
	err = b.SkipTo(3)
	ownWords(t, "SkipTo a stale number", err)
	if !errors.Is(err, ErrStale) {
		t.Errorf("SkipTo a stale number: %v, want ErrStale", err)
	}
	if _, err := b.PublishAt(math.MaxUint64, "a", Event{Data: "x"}); err != nil {
		t.Fatal(err)
	}
	_, err = b.Publish("a", Event{Data: "x"})
	ownWords(t, "Publish after the last number", err)
}

// TestClosedErrors: after Shutdown, Publish, PublishAt and SkipTo return
// ErrClosed.
func TestClosedErrors(t *testing.T) {
	b := NewBroker(BrokerOptions{})
	if err := b.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := b.Publish("a", Event{Data: "x"})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Shutdown: %v, want ErrClosed", err)
	}
	_, err = b.PublishAt(7, "a", Event{Data: "x"})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("PublishAt after Shutdown: %v, want ErrClosed", err)
	}
	err = b.SkipTo(9)
	ownWords(t, "SkipTo after Shutdown", err)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("SkipTo after Shutdown: %v, want ErrClosed", err)
	}
}

// failingWriter fails every write with errDisk.
type failingWriter struct{}

var errDisk = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDisk }

// TestHistoryErrors: SaveHistory and LoadHistory fail in sse's words, with
// the writer's error wrapped.
func TestHistoryErrors(t *testing.T) {
	b := NewBroker(BrokerOptions{})
	defer b.Shutdown(t.Context())
	if _, err := b.Publish("a", Event{Data: "x"}); err != nil {
		t.Fatal(err)
	}
	err := b.SaveHistory(failingWriter{})
	ownWords(t, "SaveHistory to a failing writer", err)
	if !errors.Is(err, errDisk) {
		t.Errorf("SaveHistory to a failing writer: %v, want its error wrapped", err)
	}
	var saved bytes.Buffer
	if err := b.SaveHistory(&saved); err != nil {
		t.Fatal(err)
	}
	ownWords(t, "LoadHistory on a Broker in use", b.LoadHistory(bytes.NewReader(saved.Bytes())))

	fresh := NewBroker(BrokerOptions{})
	defer fresh.Shutdown(t.Context())
	ownWords(t, "LoadHistory of garbage", fresh.LoadHistory(strings.NewReader("not a history")))
	if err := fresh.LoadHistory(&saved); err != nil {
		t.Errorf("LoadHistory of a saved history: %v", err)
	}
}

// TestNewBrokerBadEpoch: NewBroker panics on an Epoch that cannot prefix
// IDs, naming the option, in sse's words.
func TestNewBrokerBadEpoch(t *testing.T) {
	defer func() {
		msg := fmt.Sprint(recover())
		if !strings.HasPrefix(msg, "sse: NewBroker: Epoch ") || strings.Contains(msg, "hub") {
			t.Errorf("NewBroker with a bad Epoch panicked with %q, want the words of package sse", msg)
		}
	}()
	NewBroker(BrokerOptions{Epoch: "two words"})
}
