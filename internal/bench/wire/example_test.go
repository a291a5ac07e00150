package wire_test

import (
	"fmt"

	"github.com/realtime-go/realtime/internal/bench/wire"
)

func ExamplePayload() {
	var b [wire.PayloadSize]byte
	p := wire.Payload(b[:], 42, 1764000000000000000)
	fmt.Printf("%s\n", p)
	seq, ns, err := wire.ParsePayload(p)
	fmt.Println(seq, ns, err)
	// Output:
	// 000000000000002a 1764000000000000000 ...........................
	// 42 1764000000000000000 <nil>
}
