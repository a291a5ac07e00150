package wire

import "testing"

func TestAcceptKeyRFCExample(t *testing.T) {
	// RFC 6455 section 1.3.
	if got, want := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("AcceptKey = %q, want %q", got, want)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		seq uint64
		ns  int64
	}{{1, 1}, {0xdeadbeef, 1764000000123456789}, {1<<64 - 1, 0}} {
		var b [PayloadSize]byte
		p := Payload(b[:], tc.seq, tc.ns)
		if len(p) != PayloadSize {
			t.Fatalf("len %d", len(p))
		}
		seq, ns, err := ParsePayload(p)
		if err != nil || seq != tc.seq || ns != tc.ns {
			t.Errorf("ParsePayload(Payload(%d, %d)) = %d, %d, %v", tc.seq, tc.ns, seq, ns, err)
		}
	}
	if _, _, err := ParsePayload([]byte("not a payload")); err == nil {
		t.Error("ParsePayload accepted garbage")
	}
}
