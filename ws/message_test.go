package ws

import (
	"strings"
	"testing"
)

// TestDecodeMessage: what a Subscriber makes of each message of the
// protocol, on a realtime.v1 connection and on one without it.
func TestDecodeMessage(t *testing.T) {
	bin := func(hdr, data string) []byte {
		return append(append([]byte{byte(len(hdr) >> 8), byte(len(hdr))}, hdr...), data...)
	}
	cases := []struct {
		name      string
		typ       MessageType
		p         []byte
		v1        bool
		ok        bool
		kind, id  string
		data, gap string
	}{
		{"v1 text message", MessageText, []byte(`{"type":"message","id":"e-1","topic":"t","data":"hi"}`), true, true, kindMessage, "e-1", `"hi"`, ""},
		{"v1 JSON message", MessageText, []byte(`{"type":"message","id":"e-2","topic":"t","data":{"a":[1]}}`), true, true, kindMessage, "e-2", `{"a":[1]}`, ""},
		{"v1 binary message", MessageBinary, bin(`{"type":"message","id":"e-3","topic":"t"}`, "\x00\x01"), true, true, kindMessage, "e-3", "\x00\x01", ""},
		{"v1 gap", MessageText, []byte(`{"type":"gap","lastEventId":"x-1","reason":"unknown epoch","id":"e-0"}`), true, true, kindGap, "", "", "unknown epoch e-0"},
		{"v1 direct that looks like a hub message", MessageText, []byte(`{"type":"direct","data":{"id":"x","topic":"t","data":1}}`), true, true, kindDirect, "", `{"id":"x","topic":"t","data":1}`, ""},
		{"v1 direct binary", MessageBinary, bin(`{"type":"direct"}`, "raw"), true, true, kindDirect, "", "raw", ""},
		{"v1 message without an ID is skipped", MessageText, []byte(`{"type":"message","topic":"t","data":1}`), true, false, "", "", "", ""},
		{"v1 hub message saved by an older version", MessageText, []byte(`{"id":"e-1","topic":"t","data":"old"}`), true, true, kindMessage, "e-1", `"old"`, ""},
		{"v1 binary hub message saved by an older version", MessageBinary, bin(`{"id":"e-2","topic":"t"}`, "o"), true, true, kindMessage, "e-2", "o", ""},
		{"v1 object without a type or ID is skipped", MessageText, []byte(`{"topic":"t","data":1}`), true, false, "", "", "", ""},
		{"v1 unknown type is skipped", MessageText, []byte(`{"type":"presence","who":"ann"}`), true, false, "", "", "", ""},
		{"v1 text that is not JSON is skipped", MessageText, []byte(`hello`), true, false, "", "", "", ""},
		{"v1 binary without a header is skipped", MessageBinary, []byte{1, 2, 3}, true, false, "", "", "", ""},
		{"older hub message", MessageText, []byte(`{"id":"e-1","topic":"t","data":"hi"}`), false, true, kindMessage, "e-1", `"hi"`, ""},
		{"older gap", MessageText, []byte(`{"type":"gap","lastEventId":"x-1","reason":"future id","id":"e-9"}`), false, true, kindGap, "", "", "future id e-9"},
		{"older direct text", MessageText, []byte(`plain`), false, true, kindDirect, "", "plain", ""},
		{"older direct JSON", MessageText, []byte(`{"ok":true}`), false, true, kindDirect, "", `{"ok":true}`, ""},
		{"older binary hub message", MessageBinary, bin(`{"id":"e-4","topic":"t"}`, "z"), false, true, kindMessage, "e-4", "z", ""},
		{"older direct binary", MessageBinary, []byte{0, 9, 9}, false, true, kindDirect, "", "\x00\x09\x09", ""},
	}
	for _, tc := range cases {
		m, ok := decodeMessage(tc.typ, tc.p, tc.v1)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		gap := ""
		if m.Gap != nil {
			gap = m.Gap.Reason + " " + m.Gap.ID
		}
		if kindOf(m) != tc.kind || m.ID != tc.id || string(m.Data) != tc.data || gap != tc.gap || m.Type != tc.typ {
			t.Errorf("%s: got %+v (gap %q), want kind %s, id %q, data %q, gap %q", tc.name, m, gap, tc.kind, tc.id, tc.data, tc.gap)
		}
	}
}

// FuzzDecodeMessage: no input makes the decoder panic, a gap carries its
// notice, and a hub message on a realtime.v1 connection came with an ID.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"type":"message","id":"e-1","topic":"t","data":"hi"}`), true, false)
	f.Add([]byte("\x00\x11{\"type\":\"direct\"}x"), true, true)
	f.Add([]byte(`{"id":"a","topic":"b","data":null}`), false, false)
	f.Fuzz(func(t *testing.T, p []byte, v1, binary bool) {
		typ := MessageText
		if binary {
			typ = MessageBinary
		}
		m, ok := decodeMessage(typ, p, v1)
		if ok && m.Gap != nil && m.ID != "" {
			t.Fatalf("a gap with an ID of a message: %+v", m)
		}
		if ok && v1 && m.ID != "" && !strings.Contains(string(p), `"id"`) {
			t.Fatalf("a hub message without an ID from %q", p)
		}
	})
}

// kindOf names what m is, as the protocol's type member does.
func kindOf(m Message) string {
	switch {
	case m.Gap != nil:
		return kindGap
	case m.ID != "":
		return kindMessage
	}
	return kindDirect
}
