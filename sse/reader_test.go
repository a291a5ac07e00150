package sse

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// readAll parses stream and returns every event until the end.
func readAll(t testing.TB, r io.Reader) ([]Event, error) {
	t.Helper()
	rd := NewReader(r)
	var evs []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestReader(t *testing.T) {
	msg := func(id, typ, data string) Event { return Event{ID: id, Type: typ, Data: data} }
	tests := []struct {
		name   string
		stream string
		want   []Event
	}{
		{"simple", "data: hi\n\n", []Event{msg("", "message", "hi")}},
		{"no space", "data:hi\n\n", []Event{msg("", "message", "hi")}},
		{"one space removed", "data:  hi\n\n", []Event{msg("", "message", " hi")}},
		{"CRLF", "data: a\r\ndata: b\r\n\r\n", []Event{msg("", "message", "a\nb")}},
		{"CR", "data: a\rdata: b\r\r", []Event{msg("", "message", "a\nb")}},
		{"mixed", "data: a\r\ndata: b\rdata: c\n\r\n", []Event{msg("", "message", "a\nb\nc")}},
		{"BOM stripped once", "\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\ndata: c\n\n",
			[]Event{msg("", "message", "a"), msg("", "message", "c")}},
		{"field without colon", "data\n\n", []Event{msg("", "message", "")}},
		{"data then empty", "data\ndata\n\n", []Event{msg("", "message", "\n")}},
		{"no data no dispatch", "event: x\nid: 1\n\ndata: y\n\n", []Event{msg("1", "message", "y")}},
		{"type resets", "event: a\ndata: 1\n\ndata: 2\n\n",
			[]Event{msg("", "a", "1"), msg("", "message", "2")}},
		{"id persists", "id: 7\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\n",
			[]Event{msg("7", "message", "1"), msg("7", "message", "2"), msg("", "message", "3")}},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
			[]Event{msg("1", "message", "a"), msg("1", "message", "b")}},
		{"comment", ": hello\n:\ndata: x\n: mid\n\n", []Event{msg("", "message", "x")}},
		{"unknown field", "foo: bar\ndata: x\nDATA: y\n data: z\n\n", []Event{msg("", "message", "x")}},
		{"colon in value", "data: a:b\n\n", []Event{msg("", "message", "a:b")}},
		{"incomplete at EOF", "data: a\n\ndata: b\n", []Event{msg("", "message", "a")}},
		{"incomplete line at EOF", "data: a\n\ndata: b", []Event{msg("", "message", "a")}},
		{"invalid UTF-8", "data: \xE2\x82A\xff\xC0\x80\n\n", []Event{msg("", "message", "\uFFFDA\uFFFD\uFFFD\uFFFD")}},
		{"surrogate", "data: \xED\xA0\x80\n\n", []Event{msg("", "message", "\uFFFD\uFFFD\uFFFD")}},
		{"truncated at line end", "data: \xF0\x9F\x98\ndata: \xF0\x9F\x98\x80\n\n",
			[]Event{msg("", "message", "\uFFFD\n\U0001F600")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, one := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.stream)
				if one {
					r = iotest.OneByteReader(r)
				}
				got, err := readAll(t, r)
				if err != nil {
					t.Fatal(err)
				}
				if !equalEvents(got, tt.want) {
					t.Errorf("one byte reads %v: got %q, want %q", one, got, tt.want)
				}
			}
		})
	}
}

func equalEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaderRetry(t *testing.T) {
	stream := "retry: 1500\ndata: a\n\nretry: 1.5\nretry: -1\nretry: x\nretry\nretry:\ndata: b\n\n" +
		"retry: 99999999999999999999999\ndata: c\n\n"
	r := NewReader(strings.NewReader(stream))
	ev, err := r.Next()
	if err != nil || ev.Retry != 1500*time.Millisecond || r.Retry() != 1500*time.Millisecond {
		t.Fatalf("first event %+v, %v; Retry() = %v", ev, err, r.Retry())
	}
	ev, err = r.Next()
	if err != nil || ev.Retry != 0 || r.Retry() != 1500*time.Millisecond {
		t.Fatalf("second event %+v, %v; Retry() = %v; invalid retry values must be ignored", ev, err, r.Retry())
	}
	ev, err = r.Next()
	if err != nil || ev.Retry <= 0 {
		t.Fatalf("huge retry: %+v, %v; want clamped positive", ev, err)
	}
}

func TestReaderLastEventIDWithoutDispatch(t *testing.T) {
	r := NewReader(strings.NewReader("id: 5\n\n"))
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next = %v, want io.EOF", err)
	}
	if r.LastEventID() != "5" {
		t.Errorf("LastEventID = %q, want 5: a blank line sets it even without data", r.LastEventID())
	}
}

func TestReaderComments(t *testing.T) {
	var got []string
	r := NewReader(strings.NewReader(": one\n:two\n:\n:  three\ndata: x\n\n"))
	r.OnComment = func(s string) { got = append(got, s) }
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	want := []string{"one", "two", "", " three"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("comments %q, want %q", got, want)
	}
}

func TestReaderLimit(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, stream := range []string{
		"data: " + long + "\n\n",                   // long line
		strings.Repeat("data: "+long[:40]+"\n", 3), // long event
		": " + long, // long line without end
	} {
		r := NewReader(strings.NewReader(stream))
		r.MaxEventSize = 100
		if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Next on %d bytes = %v, want ErrTooLarge", len(stream), err)
		}
		if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
			t.Errorf("second Next = %v, want the same error", err)
		}
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)))
	if ev, err := r.Next(); err != nil || ev.Data != "a" {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next = %v, want wrapped boom", err)
	}
}

func TestDecodeUTF8(t *testing.T) {
	// Cases from the WHATWG Encoding standard's decoder: one U+FFFD per
	// maximal ill-formed subpart.
	tests := []struct{ in, want string }{
		{"\x80", "\uFFFD"},
		{"\xC2", "\uFFFD"},
		{"\xC2A", "\uFFFDA"},
		{"\xE2\x82", "\uFFFD"},
		{"\xE2\x82A", "\uFFFDA"},
		{"\xE0\x80\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xF0\x9F\x98", "\uFFFD"},
		{"\xF5", "\uFFFD"},
		{"a\xC3\xA9b", "aéb"},
	}
	for _, tt := range tests {
		if got := string(decodeUTF8([]byte(tt.in))); got != tt.want {
			t.Errorf("decodeUTF8(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// normalize returns what a parser makes of data: every line end is LF.
func normalize(data string) string {
	return strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
}

// wantParsed returns the event a fresh parser dispatches for e.
func wantParsed(e Event) Event {
	p := Event{ID: e.ID, Type: e.Type, Data: normalize(e.Data)}
	if p.Type == "" {
		p.Type = "message"
	}
	if e.Retry > 0 {
		p.Retry, _ = parseRetry(strconv.AppendInt(nil, retryMillis(e.Retry), 10))
	}
	return p
}

func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "é", " ", ":", "\r", "\n", "\r\n", "\x00", "data: ", "id: x", "\uFEFF", "\u2028", "😀", ""}
	gen := func() string {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for i := range 5000 {
		ev := Event{ID: gen(), Type: gen(), Data: gen(), Retry: time.Duration(rng.IntN(3)) * time.Duration(rng.Int64N(1e12))}
		checkRoundTrip(t, ev)
		if t.Failed() {
			t.Fatalf("iteration %d", i)
		}
	}
}

// checkRoundTrip encodes ev, parses it back and checks that it means what
// it said, or that encoding refused it for the right reason.
func checkRoundTrip(t *testing.T, ev Event) {
	t.Helper()
	b, err := encodeEvent(nil, ev)
	switch {
	case strings.ContainsAny(ev.ID, "\r\n\x00") || !utf8.ValidString(ev.ID):
		if !errors.Is(err, errInvalidID) {
			t.Errorf("encodeEvent(%+v) error = %v, want errInvalidID", ev, err)
		}
		return
	case strings.ContainsAny(ev.Type, "\r\n") || !utf8.ValidString(ev.Type):
		if !errors.Is(err, errInvalidType) {
			t.Errorf("encodeEvent(%+v) error = %v, want errInvalidType", ev, err)
		}
		return
	case !utf8.ValidString(ev.Data):
		if !errors.Is(err, errInvalidData) {
			t.Errorf("encodeEvent(%+v) error = %v, want errInvalidData", ev, err)
		}
		return
	case ev.Retry < 0:
		if !errors.Is(err, errInvalidRetry) {
			t.Errorf("encodeEvent(%+v) error = %v, want errInvalidRetry", ev, err)
		}
		return
	case err != nil:
		t.Errorf("encodeEvent(%+v) = %v", ev, err)
		return
	}
	// Two copies in one stream with a comment between: exactly two events,
	// both equal to what was sent.
	stream := string(b) + ": c\n" + string(b)
	got, err := readAll(t, strings.NewReader(stream))
	want := wantParsed(ev)
	if err != nil || len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("round trip of %+v via %q:\ngot  %+v, %v\nwant 2 x %+v", ev, stream, got, err, want)
	}
}

func FuzzEncodeParse(f *testing.F) {
	f.Add("1", "message", "hello", int64(0))
	f.Add("a\nb", "t", "x", int64(1))
	f.Add("id", "a\rb", "d", int64(1000))
	f.Add("i\x00d", "", "line\r\nline\rline\n", int64(-5))
	f.Add("", "", "\xEF\xBB\xBFdata: evil\n\nid: 9", int64(1e9))
	f.Add(" sp", " sp", " sp", int64(1e6+1))
	f.Add("", "", "", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, id, typ, data string, retry int64) {
		checkRoundTrip(t, Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retry)})
	})
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("data: a\n\n"))
	f.Add([]byte("\xEF\xBB\xBFid: 1\r\nevent: x\rdata\n\n"))
	f.Add([]byte("retry: 10\ndata: \xE2\x82A\n\nid: a\x00b\ndata: c\n\n"))
	f.Add([]byte(": c\r\n\r\ndata:  x\r\r"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		got, err := readAll(t, strings.NewReader(string(stream)))
		if err != nil {
			t.Fatal(err)
		}
		byByte, err := readAll(t, iotest.OneByteReader(strings.NewReader(string(stream))))
		if err != nil || !equalEvents(got, byByte) {
			t.Fatalf("one byte reads differ: %q vs %q (%v)", got, byByte, err)
		}
		// Every dispatched event is valid UTF-8 with a usable ID, and
		// re-encoding the events gives the same events back.
		var re []byte
		for _, ev := range got {
			if strings.ContainsAny(ev.ID, "\r\n\x00") || !utf8.ValidString(ev.Data) || !utf8.ValidString(ev.Type) {
				t.Fatalf("parsed event %+v breaks the format's invariants", ev)
			}
			if ev.ID == "" {
				re = append(re, "id\n"...) // an explicit reset: the ID persists otherwise
			}
			if re, err = encodeEvent(re, ev); err != nil {
				t.Fatalf("re-encoding %+v: %v", ev, err)
			}
		}
		again, err := readAll(t, strings.NewReader(string(re)))
		if err != nil {
			t.Fatal(err)
		}
		if !equalEvents(got, again) {
			t.Fatalf("re-encoded stream %q parsed as %q, want %q", re, again, got)
		}
	})
}
