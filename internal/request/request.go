// Package request reads what a subscribing request asks for, the same way
// for package sse and package ws: its topics and the ID it resumes from.
package request

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// MaxRequestBytes bounds the target (path and query) and header fields of
// a subscribing request together, counted as they arrived less the line
// ends: the server keeps the request as long as the stream or connection
// lasts (its callbacks get it), and net/http's own bound
// (http.Server.MaxHeaderBytes, 1 MiB by default) would let each client
// make the server hold a megabyte. The largest request a client needs is
// about 50 KiB: MaxTopics topics of 256 bytes, each byte %-escaped.
// Browsers send a few KiB of header fields. Past it, a request is refused
// with 414 when its target alone is too long, else with 431.
const MaxRequestBytes = 64 << 10

// maxQueryParams is net/url's bound on the parameters of a query
// (GODEBUG=urlmaxqueryparams can change it): past it, the parser keeps
// none, and says so only in an error that Request.URL.Query drops.
const maxQueryParams = 10000

// Check refuses a request that net/http and net/url parse only in part,
// or that is too large to keep, with a *StatusError naming what is wrong:
// 414 or 431 past MaxRequestBytes, 400 for a query that url.ParseQuery reads only
// in part (a bad %-escape, a semicolon, more than 10,000 parameters: the
// parameters it drops would change the topics silently), a topic named
// twice, and a resume ID given twice (lastEventId or Last-Event-ID).
func Check(r *http.Request) error {
	_, err := check(r)
	return err
}

// check is Check, and returns r's query parameters.
func check(r *http.Request) (url.Values, error) {
	if target, header := requestBytes(r); target > MaxRequestBytes {
		return nil, &StatusError{Code: http.StatusRequestURITooLong,
			Err: fmt.Errorf("request target of %d bytes, at most %d for a stream", target, MaxRequestBytes)}
	} else if target+header > MaxRequestBytes {
		return nil, &StatusError{Code: http.StatusRequestHeaderFieldsTooLarge,
			Err: fmt.Errorf("request of %d bytes (target %d, header fields %d), at most %d for a stream", target+header, target, header, MaxRequestBytes)}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// Past its bound on parameters, ParseQuery keeps none.
		if n := countParams(r.URL.RawQuery); len(q) == 0 && n > maxQueryParams {
			return nil, badRequest("query of %d parameters, at most %d: %v", n, maxQueryParams, err)
		}
		return nil, badRequest("query not read in full (separate parameters with &, and escape %%, ; and + with %%XX): %v", err)
	}
	topics := slices.Clone(q["topic"])
	slices.Sort(topics)
	for i := 1; i < len(topics); i++ {
		if topics[i] == topics[i-1] {
			return nil, badRequest("topic %q named twice", topics[i])
		}
	}
	if len(q["lastEventId"]) > 1 {
		return nil, badRequest("lastEventId given %d times: give the ID to resume from once", len(q["lastEventId"]))
	}
	if n := len(r.Header.Values("Last-Event-ID")); n > 1 {
		return nil, badRequest("Last-Event-ID given %d times: give the ID to resume from once", n)
	}
	return q, nil
}

// badRequest returns a *StatusError with status 400 and the formatted
// explanation.
func badRequest(format string, args ...any) error {
	return &StatusError{Code: http.StatusBadRequest, Err: fmt.Errorf(format, args...)}
}

// countParams counts the parameters of a raw query as net/url does.
func countParams(q string) int { return strings.Count(q, "&") + 1 }

// requestBytes returns the size of r's target and of its header fields,
// as they arrived less the line ends and the separators. The Host field
// counts too: net/http moves it out of r.Header into r.Host.
func requestBytes(r *http.Request) (target, header int) {
	target = len(r.RequestURI)
	if target == 0 && r.URL != nil {
		target = len(r.URL.RawQuery) + len(r.URL.Path)
	}
	header = len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			header += len(k) + len(v)
		}
	}
	return target, header
}

// Read checks r (see Check) and returns what it asks for: its topics,
// those hook returns, or with a nil hook the values of the "topic" query
// parameters (?topic=a&topic=b); and the ID it resumes from, the
// Last-Event-ID header (what a browser's EventSource sends when it
// reconnects), or when there is none, the lastEventId query parameter
// (what a page sends on its first connection, or a WebSocket client,
// which cannot set headers). The ID is read after hook, which may change
// r (drop the resume ID of a client it will not serve, say). The query is
// parsed once unless hook changes it.
func Read(r *http.Request, hook func(*http.Request) ([]string, error)) (topics []string, lastID string, err error) {
	q, err := check(r)
	if err != nil {
		return nil, "", err
	}
	if hook != nil {
		raw := r.URL.RawQuery
		if topics, err = hook(r); err != nil {
			return nil, "", err
		}
		if r.URL.RawQuery != raw {
			q = r.URL.Query()
		}
	} else {
		topics = q["topic"]
	}
	lastID = r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = q.Get("lastEventId")
	}
	return topics, lastID, nil
}

// A StatusError carries an HTTP status: a Topics hook returns one to refuse
// a request with that status (401 or 403 for a failed authorization, for
// example), and a client returns one when a server answers with an error.
// Packages sse and ws export it under the same name.
type StatusError struct {
	// Code is the HTTP status code. A server answers 403 for a Code
	// outside 400-599.
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
