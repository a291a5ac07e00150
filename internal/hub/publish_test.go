package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A writer that finds a topic's last message after its position must find
// it under the hub's head too: Publish makes a message readable (head)
// before it tells the waiting lists (last). In the other order, every
// writer that looked in between found nothing to take and nothing to wait
// for, and spun until the publisher, holding the hub's lock, stored the
// head: with 2,000 connections on two cores, the server's CPU went to its
// writers and publishing fell to a third of its rate, with latencies of
// seconds (internal/bench -scenario latency).
func TestHeadBeforeLast(t *testing.T) {
	h := newHub(t, Options{})
	defer h.Close()
	publish(t, h, "a", "first")
	tp := h.lookup("a")
	var stop atomic.Bool
	behind := make(chan uint64, 1)
	go func() {
		defer close(behind)
		for !stop.Load() {
			last := tp.last.Load()
			if head := h.head.Load(); head < last {
				behind <- last - head
				return
			}
		}
	}()
	for range 200_000 {
		if _, err := h.Publish("a", func(string) []byte { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	if n, ok := <-behind; ok {
		t.Fatalf("a topic's last message was %d ahead of the hub's head", n)
	}
}

// A message larger than its topic's log can hold is refused by Publish,
// and costs no subscriber a gap. (It was evicted by its own Publish: every
// subscriber got a "too slow" gap, and Publish said nothing.)
func TestPublishTooLarge(t *testing.T) {
	h := newHub(t, Options{Epoch: "E", HistoryBytes: 1000})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	_, err := h.Publish("a", func(string) []byte { return make([]byte, 1000) })
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish of a message its topic's log cannot hold: %v, want ErrTooLarge", err)
	}
	if h.LastID() != "" {
		t.Errorf("LastID %q after a refused message, want none", h.LastID())
	}
	publish(t, h, "a", "small")
	if got := s.take(t); !slices.Equal(datas(got), []string{"small"}) {
		t.Fatalf("got %q", datas(got))
	}
}

// Publish takes no hub-wide lock: publishers to existing topics go through
// while the hub's lock is held (by a Subscribe, a Leave, a sweep of many
// topics), side by side. (Every Publish ran under the hub's lock: the
// encode, the ID, the allocation and the append, so publishers on
// different topics gained nothing from a second core.)
func TestPublishTakesNoHubLock(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	a, _, _ := subscribe(t, h, "", "a")
	b, _, _ := subscribe(t, h, "", "b")
	h.mu.Lock()
	done := make(chan error, 2)
	for _, topic := range []string{"a", "b"} {
		go func() {
			_, err := h.Publish(topic, func(string) []byte { return []byte(topic) })
			done <- err
		}()
	}
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second): // only catches the hang
			h.mu.Unlock()
			t.Fatal("Publish waited for the hub's lock")
		}
	}
	h.mu.Unlock()
	got := append(waitTake(t, a, 1), waitTake(t, b, 1)...)
	if !slices.Equal(datas(got), []string{"a", "b"}) {
		t.Fatalf("got %q", datas(got))
	}
}

// Publishers to different topics do not wait for each other's encode, and
// a subscriber of both takes their messages in Seq order all the same: a
// message whose encode returned first waits, unread, for the one before
// it. (A slow encode held every other publisher up.)
func TestPublishWaitsForNoEncode(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a", "b")
	encoding := make(chan struct{})
	release := make(chan struct{})
	first := make(chan *Message, 1)
	go func() {
		m, err := h.Publish("a", func(string) []byte {
			close(encoding)
			<-release
			return []byte("first")
		})
		if err != nil {
			t.Error(err)
		}
		first <- m
	}()
	<-encoding
	second := make(chan *Message, 1)
	go func() {
		m, err := h.Publish("b", func(string) []byte { return []byte("second") })
		if err != nil {
			t.Error(err)
		}
		second <- m
	}()
	var m2 *Message
	select {
	case m2 = <-second:
	case <-time.After(10 * time.Second): // only catches the hang
		close(release)
		t.Fatal("Publish to b waited for an encode of a")
	}
	if m2.ID != "E-2" {
		t.Errorf("the second message is %s, want E-2", m2.ID)
	}
	if msgs := s.take(t); len(msgs) > 0 {
		t.Errorf("took %q while the message before it was being encoded", datas(msgs))
	}
	if id := h.LastID(); id != "" {
		t.Errorf("LastID %q while the first message was being encoded", id)
	}
	close(release)
	<-first
	got := waitTake(t, s, 2)
	if !slices.Equal(datas(got), []string{"first", "second"}) {
		t.Fatalf("got %q, want first then second", datas(got))
	}
}

// An encode that panics costs the hub nothing: the panic reaches its
// publisher, and what is published after it reaches subscribers. (It left
// the hub locked: every later call hung.)
func TestPublishEncodePanics(t *testing.T) {
	h := newHub(t, Options{Epoch: "E"}) // not closed on a hang: Close would hang too
	s, _, _ := subscribe(t, h, "", "a")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the encode's panic did not reach its publisher")
			}
		}()
		h.Publish("a", func(string) []byte { panic("encode") })
	}()
	done := make(chan error, 1)
	go func() {
		_, err := h.Publish("a", func(string) []byte { return []byte("after") })
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // only catches the hang
		t.Fatal("Publish hung after an encode panicked")
	}
	if got := waitTake(t, s, 1); !slices.Equal(datas(got), []string{"after"}) {
		t.Errorf("got %q", datas(got))
	}
	h.Close()
}

// A hole that publishers' evictions make above the hub's head is read
// once the head reaches it: a message below it, still being encoded, is
// not yet in the Source, and must come all the same, in order. Here 1 is
// encoded while 2 and 3 are published to the same topic, and 3 evicts 2
// from a log that holds one message.
func TestHoleAboveHeadWaitsForIt(t *testing.T) {
	st := &stream{}
	var calls int
	h := newHub(t, Options{Epoch: "S", HistoryBytes: messageOverhead + 2, Source: st.source("S", &calls)})
	defer h.Close()
	s, _, _ := subscribe(t, h, "", "a")
	publishTo := func(data string) func(string) []byte {
		return func(id string) []byte {
			_, seq, _ := ParseID(id)
			st.Insert(seq, "a", []byte(data))
			return []byte(data)
		}
	}
	encoding := make(chan struct{})
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		encode := publishTo("m1")
		_, err := h.Publish("a", func(id string) []byte {
			close(encoding)
			<-release
			return encode(id)
		})
		first <- err
	}()
	<-encoding
	published := make(chan error, 1)
	go func() {
		for _, data := range []string{"m2", "m3"} {
			if _, err := h.Publish("a", publishTo(data)); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // only catches the hang
		close(release)
		t.Fatal("Publish waited for another's encode")
	}
	if got := takeAll(s.Subscriber); len(got) > 0 {
		t.Errorf("took %q while 1 was being encoded", got)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-s.ready
	if got := takeAll(s.Subscriber); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("got %q, want m1 m2 m3", got)
	}
}

// AwaitPublished waits for the messages whose Publish began before it,
// which a Shutdown that writes what was published and Save rely on: here
// 2 was published while 1 was still being encoded, so 2 is not readable
// until 1 is. A ctx that ends first ends the wait with its error.
func TestAwaitPublished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, Options{Epoch: "E"})
		defer h.Close()
		release := make(chan struct{})
		first := make(chan error, 1)
		go func() {
			_, err := h.Publish("a", func(string) []byte {
				<-release
				return []byte("first")
			})
			first <- err
		}()
		synctest.Wait() // 1 is being encoded
		if _, err := h.Publish("b", func(string) []byte { return []byte("second") }); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancelled := make(chan error, 1)
		go func() { cancelled <- h.AwaitPublished(ctx) }()
		awaited := make(chan error, 1)
		go func() { awaited <- h.AwaitPublished(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-awaited:
			t.Fatalf("AwaitPublished returned %v while 1 was being encoded", err)
		default:
		}
		cancel()
		if err := <-cancelled; !errors.Is(err, context.Canceled) {
			t.Errorf("AwaitPublished with a cancelled ctx = %v, want context.Canceled", err)
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-awaited; err != nil {
			t.Fatalf("AwaitPublished = %v", err)
		}
		if id := h.LastID(); id != "E-2" {
			t.Errorf("LastID %q after AwaitPublished, want E-2", id)
		}
	})
}

// Close returns once every Publish that did not return ErrClosed has made
// its message readable: a Save after Close (a server's shutdown) holds
// every message that Publish returned, so a hub that loads it gives none
// of their IDs to another message.
func TestCloseWaitsForPublishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, Options{Epoch: "S"})
		encoding, release := make(chan struct{}), make(chan struct{})
		published := make(chan *Message, 1)
		go func() {
			m, err := h.Publish("a", func(id string) []byte {
				close(encoding)
				<-release
				return []byte(id)
			})
			if err != nil {
				t.Errorf("Publish begun before Close: %v", err)
			}
			published <- m
		}()
		<-encoding
		var saved bytes.Buffer
		closed := make(chan struct{})
		go func() {
			h.Close()
			if err := h.Save(&saved); err != nil {
				t.Error(err)
			}
			close(closed)
		}()
		synctest.Wait()
		close(release)
		m := <-published
		<-closed
		if _, err := h.Publish("a", func(id string) []byte { return nil }); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish after Close: %v, want ErrClosed", err)
		}
		if m == nil {
			return
		}
		h2 := newHub(t, Options{})
		if err := h2.Load(&saved); err != nil {
			t.Fatal(err)
		}
		if got := h2.LastID(); got != m.ID {
			t.Errorf("loaded hub's LastID %q, want %q: the message Publish returned was not saved", got, m.ID)
		}
	})
}

// An encode that panics in PublishAt gives up its number and leaves the
// hub usable: later publishes return.
func TestPublishAtEncodePanics(t *testing.T) {
	for _, filtered := range []bool{false} {
		t.Run(fmt.Sprintf("filtered=%v", filtered), func(t *testing.T) {
			h := newHub(t, Options{Epoch: "S", Filtered: filtered})
			s, err := h.Subscribe(context.Background(), []string{"a"}, "")
			if err != nil {
				t.Fatal(err)
			}
			panics := func(f func()) {
				defer func() {
					if recover() == nil {
						t.Error("encode's panic did not reach the caller")
					}
				}()
				f()
			}
			panics(func() { h.PublishAt(1, "a", func(string) []byte { panic("encode") }) })
			panics(func() { h.Publish("a", func(string) []byte { panic("encode") }) })
			done := make(chan error, 1)
			go func() {
				_, err := h.Publish("a", func(id string) []byte { return []byte(id) })
				if err == nil {
					_, err = h.PublishAt(10, "a", func(id string) []byte { return []byte(id) })
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute): // only catches a hang
				t.Fatal("Publish after an encode that panicked hangs")
			}
			got := slices.DeleteFunc(takeAll(s), func(d string) bool { return strings.HasPrefix(d, "gap:") })
			if !slices.Equal(got, []string{"S-3", "S-10"}) {
				t.Errorf("took %q, want S-3 and S-10", got)
			}
		})
	}
}

// On a filtered hub, an encode that panics in PublishAt applies nothing:
// the same number is applied by the next call; Publish is refused, since
// the hub's numbers are its stream's.
func TestFilteredEncodePanics(t *testing.T) {
	h := newHub(t, Options{Epoch: "S", Filtered: true})
	defer h.Close()
	s, err := h.Subscribe(context.Background(), []string{"a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("encode's panic did not reach the caller")
			}
		}()
		h.PublishAt(1, "a", func(string) []byte { panic("encode") })
	}()
	if _, err := h.Publish("a", func(id string) []byte { return []byte(id) }); !errors.Is(err, ErrFilteredPublish) {
		t.Fatalf("Publish on a filtered hub = %v, want ErrFilteredPublish", err)
	}
	if _, err := h.PublishAt(1, "a", func(id string) []byte { return []byte(id) }); err != nil {
		t.Fatal(err)
	}
	if err := h.SkipTo(1); err != nil {
		t.Fatal(err)
	}
	if got := takeAll(s); !slices.Equal(got, []string{"S-1"}) {
		t.Errorf("took %q, want S-1", got)
	}
}

// A number given back (a message refused as too large) is not waited for.
func TestAwaitPublishedAfterRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, Options{Epoch: "E", HistoryBytes: messageOverhead + 4})
		defer h.Close()
		if _, err := h.Publish("a", func(string) []byte { return []byte("ok") }); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Publish("a", func(string) []byte { return []byte("too large") }); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Publish = %v, want ErrTooLarge", err)
		}
		done := make(chan error, 1)
		go func() { done <- h.AwaitPublished(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("AwaitPublished waits for a number given back")
		}
	})
}
