package sse

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"data only", Event{Data: "hello"}, "data: hello\n\n"},
		{"empty data", Event{}, "data:\n\n"},
		{"all fields", Event{ID: "e-1", Type: "price", Data: "1", Retry: 1500 * time.Millisecond},
			"id: e-1\nevent: price\nretry: 1500\ndata: 1\n\n"},
		{"LF", Event{Data: "a\nb"}, "data: a\ndata: b\n\n"},
		{"CR", Event{Data: "a\rb"}, "data: a\ndata: b\n\n"},
		{"CRLF", Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
		{"LFCR is two line ends", Event{Data: "a\n\rb"}, "data: a\ndata:\ndata: b\n\n"},
		{"trailing LF", Event{Data: "a\n"}, "data: a\ndata:\n\n"},
		{"leading space kept", Event{Data: " a"}, "data:  a\n\n"},
		{"retry rounds up", Event{Data: "x", Retry: time.Microsecond}, "retry: 1\ndata: x\n\n"},
		{"colon in data", Event{Data: "id: 7"}, "data: id: 7\n\n"},
		{"NUL in type allowed", Event{Type: "a\x00b", Data: "x"}, "event: a\x00b\ndata: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeEvent([]byte("prefix"), tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tt.want {
				t.Errorf("encodeEvent = %q, want %q", got, "prefix"+tt.want)
			}
			n, err := eventLen(tt.ev)
			if err != nil || n != len(tt.want) {
				t.Errorf("eventLen = %d, %v; want %d", n, err, len(tt.want))
			}
		})
	}
}

func TestAppendEventInvalid(t *testing.T) {
	tests := []struct {
		ev   Event
		want error
	}{
		{Event{ID: "1\n2"}, errInvalidID},
		{Event{ID: "1\r2"}, errInvalidID},
		{Event{ID: "1\x002"}, errInvalidID},
		{Event{ID: "\xff"}, errInvalidID},
		{Event{Type: "a\nb"}, errInvalidType},
		{Event{Type: "a\rdata: x"}, errInvalidType},
		{Event{Type: "\xc3"}, errInvalidType},
		{Event{Data: "\xc3("}, errInvalidData},
		{Event{Retry: -time.Second}, errInvalidRetry},
	}
	for _, tt := range tests {
		got, err := encodeEvent([]byte("keep"), tt.ev)
		if !errors.Is(err, tt.want) {
			t.Errorf("encodeEvent(%+v) error = %v, want %v", tt.ev, err, tt.want)
		}
		if string(got) != "keep" {
			t.Errorf("encodeEvent(%+v) wrote %q on error", tt.ev, got)
		}
		if _, err := eventLen(tt.ev); !errors.Is(err, tt.want) {
			t.Errorf("eventLen(%+v) error = %v, want %v", tt.ev, err, tt.want)
		}
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct{ text, want string }{
		{"", ":\n"},
		{"ping", ": ping\n"},
		{"a\r\nb\rc\nd", ": a\n: b\n: c\n: d\n"},
		{"x\n\ndata: evil", ": x\n:\n: data: evil\n"},
	}
	for _, tt := range tests {
		got, err := appendComment(nil, tt.text)
		if err != nil || string(got) != tt.want {
			t.Errorf("appendComment(%q) = %q, %v; want %q", tt.text, got, err, tt.want)
		}
		// A comment never dispatches nor sets anything.
		r := NewReader(strings.NewReader(string(got) + "data: after\n\n"))
		ev, err := r.Next()
		if err != nil || ev.Data != "after" || ev.ID != "" || ev.Type != "message" {
			t.Errorf("comment %q then event parsed as %+v, %v", tt.text, ev, err)
		}
	}
	if _, err := appendComment(nil, "\xff"); !errors.Is(err, errInvalidData) {
		t.Errorf("appendComment(invalid UTF-8) error = %v, want errInvalidData", err)
	}
}

func TestAppendRetry(t *testing.T) {
	got, err := encodeRetry(nil, 3*time.Second)
	if err != nil || string(got) != "retry: 3000\n" {
		t.Errorf("encodeRetry = %q, %v", got, err)
	}
	for _, d := range []time.Duration{0, -1} {
		if _, err := encodeRetry(nil, d); !errors.Is(err, errInvalidRetry) {
			t.Errorf("encodeRetry(%v) error = %v, want errInvalidRetry", d, err)
		}
	}
}

func TestAppendEventNoAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	ev := Event{ID: "abc-12", Type: "tick", Data: "line one\nline two\r\nline three", Retry: time.Second}
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = encodeEvent(buf[:0], ev)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("encodeEvent allocates %v times per call, want 0", allocs)
	}
}

// TestInjection feeds attacker-controlled values to the encoder: none may
// produce a field of its own, or a second event.
func TestInjection(t *testing.T) {
	evil := []string{
		"x\nid: evil", "x\rid: evil", "x\r\nid: evil", "x\n\ndata: second", "x\r\rdata: second",
		"x\x00", "\nretry: 1", "\revent: evil", "x\n:", "\uFEFFid: evil",
	}
	for _, v := range evil {
		// In ID or Type: refused, or written as one field that means v.
		for _, ev := range []Event{{ID: v, Data: "d"}, {Type: v, Data: "d"}} {
			b, err := encodeEvent(nil, ev)
			if err != nil {
				continue
			}
			got, _ := readAll(t, strings.NewReader(string(b)))
			if len(got) != 1 || got[0] != wantParsed(ev) {
				t.Errorf("%+v encoded as %q parsed as %+v", ev, b, got)
			}
		}
		// In data: always written, only ever as data.
		ev := Event{Data: v}
		b, err := encodeEvent(nil, ev)
		if err != nil {
			t.Fatalf("encodeEvent(%q): %v", v, err)
		}
		got, _ := readAll(t, strings.NewReader(string(b)))
		if len(got) != 1 || got[0].ID != "" || got[0].Type != "message" || got[0].Retry != 0 || got[0].Data != normalize(v) {
			t.Errorf("data %q encoded as %q parsed as %+v", v, b, got)
		}
		// In a comment: nothing at all.
		if b, err = appendComment(nil, v); err == nil {
			if got, _ := readAll(t, strings.NewReader(string(b)+"\n")); len(got) != 0 {
				t.Errorf("comment %q encoded as %q dispatched %+v", v, b, got)
			}
		}
	}
}
