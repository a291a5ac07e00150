package sse

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors reported when an [Event] or comment cannot be encoded. Nothing is
// written when one of them is returned.
var (
	// errInvalidID means an event ID holds a CR, LF or NUL, or is not
	// UTF-8. Such an ID could end the id field early and start another
	// field, or would be ignored by the browser.
	errInvalidID = errors.New("sse: invalid event id: contains CR, LF or NUL, or is not UTF-8")
	// errInvalidType means an event type holds a CR or LF, or is not UTF-8.
	errInvalidType = errors.New("sse: invalid event type: contains CR or LF, or is not UTF-8")
	// errInvalidData means event data or a comment is not UTF-8. The event
	// stream format is UTF-8 only; browsers would replace such bytes.
	errInvalidData = errors.New("sse: invalid event data: not UTF-8")
	// errInvalidRetry means a reconnection time is negative.
	errInvalidRetry = errors.New("sse: invalid retry: negative duration")
)

// An Event is one server-sent event.
//
// On the wire an event is a block of fields ended by a blank line. Encoding
// follows the event stream format of the WHATWG HTML standard: Data is split
// into one data field per line, so a browser receives it joined with LF
// (a CR or CRLF in Data arrives as LF); ID and Type must be single lines, so
// no value can inject a field of its own.
type Event struct {
	// ID is the event's ID, sent in an id field. The browser sends the last
	// ID it received back in the Last-Event-ID header when it reconnects.
	// Empty means no id field. It must be UTF-8 without CR, LF or NUL.
	// A [Broker] sets ID itself.
	ID string

	// Type is the event type, sent in an event field. A browser dispatches
	// the event to listeners of this type; empty means no event field, so
	// the browser uses "message". It must be UTF-8 without CR or LF.
	Type string

	// Data is the event's payload, UTF-8 text. Each line (ended by CR, LF
	// or CRLF) becomes one data field. Empty data is sent as one empty data
	// field, so the browser still dispatches the event.
	Data string

	// Retry, when positive, is sent in a retry field and becomes the
	// browser's reconnection time. It is sent in whole milliseconds,
	// rounded up. Zero means no retry field; negative is an error.
	Retry time.Duration
}

// validate reports whether e can be encoded: the error wraps
// errInvalidID, errInvalidType, errInvalidData or errInvalidRetry.
func (e *Event) validate() error {
	if !validID(e.ID) {
		return errInvalidID
	}
	if strings.ContainsAny(e.Type, "\r\n") || !utf8.ValidString(e.Type) {
		return errInvalidType
	}
	if !utf8.ValidString(e.Data) {
		return errInvalidData
	}
	if e.Retry < 0 {
		return errInvalidRetry
	}
	return nil
}

func validID(id string) bool {
	return !strings.ContainsAny(id, "\r\n\x00") && utf8.ValidString(id)
}

// encodeEvent appends the wire form of e to dst and returns the extended
// buffer. Fields are written in the order id, event, retry, data, each as
// "name: value" (one space after the colon, which the parser removes), and
// the block ends with a blank line. If e is invalid (see
// validate), dst is returned unchanged with the error.
//
// encodeEvent allocates only when dst lacks room; eventLen says how
// much room is needed.
func encodeEvent(dst []byte, e Event) ([]byte, error) {
	if err := e.validate(); err != nil {
		return dst, err
	}
	return appendEvent(dst, &e), nil
}

// appendEvent appends the valid event e to dst.
func appendEvent(dst []byte, e *Event) []byte {
	if e.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Type...)
		dst = append(dst, '\n')
	}
	if e.Retry > 0 {
		dst = appendRetry(dst, e.Retry)
	}
	dst = appendLines(dst, "data: ", "data:\n", e.Data)
	return append(dst, '\n')
}

// appendLines appends s as one prefixed field per line, splitting on CR, LF
// and CRLF. An empty line is written as empty, so that no line ends in a
// trailing space.
func appendLines(dst []byte, prefix, empty, s string) []byte {
	for {
		i := strings.IndexAny(s, "\r\n")
		line := s
		if i >= 0 {
			line = s[:i]
		}
		if line == "" {
			dst = append(dst, empty...)
		} else {
			dst = append(dst, prefix...)
			dst = append(dst, line...)
			dst = append(dst, '\n')
		}
		if i < 0 {
			return dst
		}
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

// retryMillis returns d in whole milliseconds, rounded up.
func retryMillis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms
}

func appendRetry(dst []byte, d time.Duration) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, retryMillis(d), 10)
	return append(dst, '\n')
}

// encodeRetry appends a lone retry field that sets the browser's
// reconnection time to d, in whole milliseconds rounded up. It is not
// followed by a blank line: a blank line would dispatch nothing but could
// reset the browser's last event ID, so the field simply takes effect when
// the browser reads it. d must be positive.
func encodeRetry(dst []byte, d time.Duration) ([]byte, error) {
	if d <= 0 {
		return dst, errInvalidRetry
	}
	return appendRetry(dst, d), nil
}

// appendComment appends text as a comment, which browsers ignore: it keeps
// idle connections and proxies alive. A text holding CR, LF or CRLF is
// written as several comment lines, one per line, so it can never start a
// field. An empty text is written as a lone colon. text must be UTF-8, or
// errInvalidData is returned and nothing is appended.
func appendComment(dst []byte, text string) ([]byte, error) {
	if !utf8.ValidString(text) {
		return dst, errInvalidData
	}
	return appendLines(dst, ": ", ":\n", text), nil
}

// eventLen returns the number of bytes encodeEvent appends for e, or
// the error it would return.
func eventLen(e Event) (int, error) {
	if err := e.validate(); err != nil {
		return 0, err
	}
	return encodedLen(&e), nil
}

func encodedLen(e *Event) int {
	n := 1 // blank line
	if e.ID != "" {
		n += len("id: ") + len(e.ID) + 1
	}
	if e.Type != "" {
		n += len("event: ") + len(e.Type) + 1
	}
	if e.Retry > 0 {
		n += len("retry: ") + digits(retryMillis(e.Retry)) + 1
	}
	s := e.Data
	for {
		i := strings.IndexAny(s, "\r\n")
		line := s
		if i >= 0 {
			line = s[:i]
		}
		if line == "" {
			n += len("data:\n")
		} else {
			n += len("data: ") + len(line) + 1
		}
		if i < 0 {
			return n
		}
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

func digits(v int64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
