package sse

import (
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrClosed means the Broker was shut down.
	ErrClosed = errors.New("sse: broker shut down")
	// ErrInvalidTopic means a topic name is empty, longer than 256 bytes,
	// not UTF-8, or holds control characters.
	ErrInvalidTopic = errors.New("sse: invalid topic")
	// ErrTooManyTopics means a stream asked for more topics than
	// BrokerOptions.MaxTopics allows.
	ErrTooManyTopics = errors.New("sse: too many topics")
)

// A StatusError carries an HTTP status. A [BrokerOptions.Topics] hook
// returns one to refuse a request with that status (401 or 403 for a
// failed authorization, for example); a [Client] returns one when a server
// answers with anything but 200 and an event stream.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// Err, when not nil, explains the refusal. Its text is the response
	// body a Broker sends; nil means the status text.
	Err error
	// Header holds extra response headers a Broker sends with the status,
	// such as WWW-Authenticate. It may be nil.
	Header http.Header
}

// Error returns the status and the explanation.
func (e *StatusError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("sse: status %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("sse: status %d %s: %v", e.Code, http.StatusText(e.Code), e.Err)
}

// Unwrap returns e.Err.
func (e *StatusError) Unwrap() error { return e.Err }

// body returns the response body a Broker sends for e.
func (e *StatusError) body() string {
	if e.Err == nil {
		return http.StatusText(e.Code)
	}
	return e.Err.Error()
}
