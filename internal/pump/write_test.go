package pump

import (
	"bytes"
	"io"
	"net"
	"slices"
	"testing"
)

// TestWriteParts: small and large parts, over TCP and another conn, arrive
// whole and in order.
func TestWriteParts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	small := [][]byte{[]byte("a"), []byte("bc"), []byte("def")}
	large := [][]byte{bytes.Repeat([]byte("x"), 5000), bytes.Repeat([]byte("y"), 3000)}
	if vectored(small) || !vectored(large) {
		t.Error("vectored picks the wrong way")
	}
	for _, parts := range [][][]byte{small, large, {[]byte("lone")}} {
		want := string(bytes.Join(parts, nil))
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			b, _ := io.ReadAll(c)
			got <- string(b)
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteParts(c, slices.Clone(parts)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if g := <-got; g != want {
			t.Errorf("tcp: got %d bytes %.20q, want %.20q", len(g), g, want)
		}
		a, b := net.Pipe()
		go func() { WriteParts(a, slices.Clone(parts)); a.Close() }()
		if g, _ := io.ReadAll(b); string(g) != want {
			t.Errorf("pipe: got %.20q", g)
		}
	}
}
