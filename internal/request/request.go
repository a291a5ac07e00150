// Package request reads what a subscribing request asks for, the same way
// for package sse and package ws: its topics and the ID it resumes from.
package request

import (
	"errors"
	"fmt"
	"net/http"
)

// LastEventID returns the ID a client resumes from: the Last-Event-ID
// header (what a browser's EventSource sends when it reconnects), or when
// there is none, the lastEventId query parameter (what a page sends on its
// first connection, or a WebSocket client, which cannot set headers).
func LastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("lastEventId")
}

// Topics returns the topics r asks for: those hook returns, or with a nil
// hook the values of the "topic" query parameters (?topic=a&topic=b).
func Topics(r *http.Request, hook func(*http.Request) ([]string, error)) ([]string, error) {
	if hook != nil {
		return hook(r)
	}
	return r.URL.Query()["topic"], nil
}

// A StatusError carries an HTTP status: a Topics hook returns one to refuse
// a request with that status (401 or 403 for a failed authorization, for
// example), and a client returns one when a server answers with an error.
// Packages sse and ws export it under the same name.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// Err, when not nil, explains the refusal. Its text is the response
	// body a server sends; nil means the status text.
	Err error
	// Header holds extra response headers a server sends with the status,
	// such as WWW-Authenticate. It may be nil.
	Header http.Header
}

// Error returns the status and the explanation.
func (e *StatusError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("status %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("status %d %s: %v", e.Code, http.StatusText(e.Code), e.Err)
}

// Unwrap returns e.Err.
func (e *StatusError) Unwrap() error { return e.Err }

// Refuse answers a request that cannot be served: with the status, headers
// and explanation of the *StatusError in err's chain (a status that is not
// an error status counts as 403), or else with code and err's text.
func Refuse(w http.ResponseWriter, err error, code int) {
	if se, ok := errors.AsType[*StatusError](err); ok {
		for k, v := range se.Header {
			w.Header()[k] = v
		}
		code = se.Code
		if code < 400 || code > 599 {
			code = http.StatusForbidden
		}
		body := http.StatusText(code)
		if se.Err != nil {
			body = se.Err.Error()
		}
		http.Error(w, body, code)
		return
	}
	http.Error(w, err.Error(), code)
}
