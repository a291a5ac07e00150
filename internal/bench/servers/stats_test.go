package servers

import (
	"io"
	"net"
	"testing"
)

type withStats struct{ n int }

type statsOf struct{ Streams int }

func (w withStats) Stats() statsOf { return statsOf{Streams: w.n} }

// TestSubscriberCount reads a Stats field where there is one, and else
// counts the connections a server has answered and not closed, over real
// 127.0.0.1 sockets.
func TestSubscriberCount(t *testing.T) {
	if c := newSubscriberCount(withStats{n: 7}, "Streams"); !c.stats || c.count() != 7 {
		t.Errorf("with Stats().Streams = 7: stats %v, count %d", c.stats, c.count())
	}
	c := newSubscriberCount(struct{}{}, "Streams")
	if c.stats {
		t.Fatal("a value with no Stats method was read as having one")
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := c.listener(raw)
	defer ln.Close()
	client, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if n := c.count(); n != 0 {
		t.Errorf("accepted, not answered: count %d, want 0", n)
	}
	if _, err := sc.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if n := c.count(); n != 1 {
		t.Errorf("answered: count %d, want 1", n)
	}
	sc.Close()
	sc.Close()
	if n := c.count(); n != 0 {
		t.Errorf("closed twice: count %d, want 0", n)
	}
}
