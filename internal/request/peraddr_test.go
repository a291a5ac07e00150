package request

import "testing"

func TestPerAddr(t *testing.T) {
	p := PerAddr{Max: 2}
	for i := range 2 {
		if !p.Acquire("a") {
			t.Fatalf("client %d of an address refused, under Max", i+1)
		}
	}
	if p.Acquire("a") {
		t.Fatal("a third client of one address was let in")
	}
	if !p.Acquire("b") {
		t.Fatal("another address was refused")
	}
	p.Release("a")
	if !p.Acquire("a") {
		t.Fatal("a released slot was not given back")
	}
	p.Release("a")
	p.Release("a")
	p.Release("b")
	if len(p.n) != 0 {
		t.Errorf("counts left for %v", p.n)
	}
	var none PerAddr
	for range 100 {
		if !none.Acquire("x") {
			t.Fatal("the zero PerAddr bounded something")
		}
	}
}
