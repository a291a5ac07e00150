package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// defaultMaxEventSize bounds, when [Reader.MaxEventSize] is zero, the bytes
// of one line and the data gathered for one event.
const defaultMaxEventSize = 1 << 20 // 1 MiB

// maxKeptBuf is the largest line or data buffer a Reader keeps for the
// next event: one grown past it by a large event is dropped, so that an
// idle Reader does not hold it.
const maxKeptBuf = 64 << 10

// ErrTooLarge means an event is larger than a bound: a line or an
// event's data read past the Reader's MaxEventSize (the stream cannot be
// read further), or an event given to Publish or PublishAt that does not
// fit in HistoryBytes (no stream could take it before it left the
// history).
var ErrTooLarge = errors.New("sse: event too large")

// A Reader parses an event stream with the WHATWG HTML standard's algorithm
// and returns the events it dispatches:
//
//   - one leading byte order mark is removed; invalid UTF-8 is replaced
//     with U+FFFD as the standard's decoder does;
//   - lines end with CRLF, LF or CR;
//   - a line starting with a colon is a comment; a line without a colon is
//     a field with an empty value; one space after the colon is removed;
//   - data fields are joined with LF; an event with no data field is not
//     dispatched; the event type defaults to "message";
//   - an id holding NUL is ignored; the last event ID persists from event
//     to event until an id field changes it;
//   - a retry value made only of ASCII digits sets the reconnection time;
//     anything else is ignored, as are unknown fields;
//   - an event not ended by a blank line when the stream ends is discarded.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// MaxEventSize bounds the bytes of one line and the data of one event.
	// Zero means 1 MiB. Past it Next returns ErrTooLarge.
	MaxEventSize int

	// OnComment, when not nil, is called with the text of every comment
	// line (without the colon and the one space after it), in stream order,
	// from within Next.
	OnComment func(text string)

	br      *bufio.Reader
	started bool // the BOM check was made
	skipLF  bool // the last line ended with CR: an LF next is part of it
	err     error

	line      []byte
	data      []byte
	dataSeen  bool
	eventType string
	lastID    string
	blank     bool          // a blank line was read: lastID is the stream's
	retry     time.Duration // reconnection time, 0 until set
	evRetry   time.Duration // retry seen in the current event's block
}

// NewReader returns a Reader that parses the stream r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 4096)}
}

// LastEventID returns the last event ID string: the value of the last valid
// id field read before the last blank line, or "" if none was.
func (r *Reader) LastEventID() string { return r.lastID }

// Retry returns the reconnection time set by the last valid retry field, or
// zero if none was read.
func (r *Reader) Retry() time.Duration { return r.retry }

func (r *Reader) max() int {
	if r.MaxEventSize > 0 {
		return r.MaxEventSize
	}
	return defaultMaxEventSize
}

// Next returns the next dispatched event. Its ID is the last event ID
// string at dispatch time, its Type is "message" when the stream named
// none, and its Retry is the value of a valid retry field read in the
// event's own block, or zero. At the end of the stream Next returns io.EOF;
// after any error it returns the same error again.
func (r *Reader) Next() (Event, error) {
	for r.err == nil {
		line, err := r.readLine()
		if err != nil {
			r.err = err
			break
		}
		if ev, ok := r.processLine(line); ok {
			return ev, nil
		}
		if r.err != nil {
			break
		}
	}
	return Event{}, r.err
}

// readLine returns the next complete line without its end. It returns
// io.EOF when the stream ends, even in the middle of a line.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	if cap(r.line) > maxKeptBuf {
		r.line = nil
	}
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if err == io.EOF {
					return nil, io.EOF
				}
				return nil, fmt.Errorf("sse: read: %w", err)
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if r.skipLF {
			r.skipLF = false
			if buf[0] == '\n' {
				r.br.Discard(1)
				continue
			}
		}
		if !r.started {
			if len(buf) < 3 && bytes.HasPrefix([]byte("\xEF\xBB\xBF"), buf) {
				// Maybe a BOM split across reads: wait for more bytes.
				if b, err := r.br.Peek(3); err == nil {
					buf = b
				} else if err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
					return nil, fmt.Errorf("sse: read: %w", err)
				}
			}
			r.started = true
			if bytes.HasPrefix(buf, []byte("\xEF\xBB\xBF")) {
				r.br.Discard(3)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		n := i
		if i < 0 {
			n = len(buf)
		}
		if len(r.line)+n > r.max() {
			return nil, fmt.Errorf("%w: a line over MaxEventSize (%d bytes)", ErrTooLarge, r.max())
		}
		r.line = append(r.line, buf[:n]...)
		if i < 0 {
			r.br.Discard(n)
			continue
		}
		r.skipLF = buf[i] == '\r'
		r.br.Discard(i + 1)
		return r.line, nil
	}
}

// processLine applies one line to the parser's state and reports the event
// it dispatches, if any.
func (r *Reader) processLine(line []byte) (Event, bool) {
	if len(line) == 0 {
		return r.dispatch()
	}
	if !utf8.Valid(line) {
		line = decodeUTF8(line)
	}
	if line[0] == ':' {
		if r.OnComment != nil {
			text := line[1:]
			if len(text) > 0 && text[0] == ' ' {
				text = text[1:]
			}
			r.OnComment(string(text))
		}
		return Event{}, false
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "event":
		r.eventType = string(value)
	case "data":
		if len(r.data)+len(value)+1 > r.max() {
			r.err = fmt.Errorf("%w: data over MaxEventSize (%d bytes)", ErrTooLarge, r.max())
			return Event{}, false
		}
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
		r.dataSeen = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			r.lastID = string(value)
		}
	case "retry":
		if d, ok := parseRetry(value); ok {
			r.retry = d
			r.evRetry = d
		}
	}
	return Event{}, false
}

// dispatch ends the current event block.
func (r *Reader) dispatch() (Event, bool) {
	r.blank = true
	defer func() {
		r.data = r.data[:0]
		r.dataSeen = false
		r.eventType = ""
		r.evRetry = 0
	}()
	if !r.dataSeen {
		return Event{}, false
	}
	ev := Event{
		ID:    r.lastID,
		Type:  r.eventType,
		Data:  string(r.data[:len(r.data)-1]),
		Retry: r.evRetry,
	}
	if ev.Type == "" {
		ev.Type = "message"
	}
	if cap(r.data) > maxKeptBuf {
		r.data = nil
	}
	return ev, true
}

// parseRetry reads a retry value: ASCII digits only, at least one. Values
// too large for a time.Duration are clamped to the largest one.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= math.MaxInt64/int64(time.Millisecond) {
			ms = ms*10 + int64(c-'0')
		}
	}
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64), true
	}
	return time.Duration(ms) * time.Millisecond, true
}
