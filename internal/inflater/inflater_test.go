package inflater

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand"
	"testing"
)

// TestSameAsCompressFlate: the copy inflates what compress/flate's writer
// makes, at every level, as compress/flate's reader does.
func TestSameAsCompressFlate(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	text := make([]byte, 300<<10)
	for i := range text {
		text[i] = "abcdefgh {}\":,0123456789"[rng.Intn(24)]
	}
	random := make([]byte, 100<<10)
	rng.Read(random)
	d := NewReader(bytes.NewReader(nil))
	for _, data := range [][]byte{nil, []byte("x"), text, random, make([]byte, 1<<20)} {
		for level := flate.HuffmanOnly; level <= flate.BestCompression; level++ {
			var b bytes.Buffer
			w, _ := flate.NewWriter(&b, level)
			w.Write(data)
			w.Close()
			d.Reset(bytes.NewReader(b.Bytes()), nil)
			got, err := io.ReadAll(d)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("level %d, %d bytes: got %d bytes, %v", level, len(data), len(got), err)
			}
		}
	}
}

// TestBlockCost: each block begun costs what SetBlockCost says, and Read
// fails with ErrBlockLimit once the cost passes the limit.
func TestBlockCost(t *testing.T) {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	for i := range 10 {
		w.Write(bytes.Repeat([]byte{'a' + byte(i), 'b', 'c'}, 200))
		w.Flush() // a block, then an empty stored one
	}
	w.Close()
	d := NewReader(bytes.NewReader(b.Bytes()))
	d.SetBlockCost(10, 1000, 1<<20)
	if _, err := io.ReadAll(d); err != nil {
		t.Fatal(err)
	}
	all := d.BlockCost()
	if all < 100 || all > 10000 {
		t.Fatalf("cost %d, want 10 blocks of 10 or 1000", all)
	}
	t.Logf("10 blocks cost %d", all)
	d.Reset(bytes.NewReader(b.Bytes()), nil)
	d.SetBlockCost(10, 1000, all/2)
	if _, err := io.ReadAll(d); !errors.Is(err, ErrBlockLimit) || d.BlockCost() > all/2+1000 {
		t.Fatalf("cost %d, %v; want at most %d, ErrBlockLimit", d.BlockCost(), err, all/2+1000)
	}
}

// FuzzSameAsCompressFlate: on any input, the copy produces what
// compress/flate's reader produces, and fails where it fails.
func FuzzSameAsCompressFlate(f *testing.F) {
	for _, level := range []int{flate.HuffmanOnly, flate.BestSpeed, flate.BestCompression} {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, level)
		w.Write(bytes.Repeat([]byte("seed text, seed text 0123456789"), 40))
		w.Flush()
		w.Close()
		f.Add(b.Bytes())
	}
	f.Add([]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		want, wantErr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(p)), 1<<20))
		got, err := io.ReadAll(io.LimitReader(NewReader(bytes.NewReader(p)), 1<<20))
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Fatalf("inflater: %d bytes, %v; compress/flate: %d bytes, %v", len(got), err, len(want), wantErr)
		}
	})
}
