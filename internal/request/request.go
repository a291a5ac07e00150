// Package request reads what a subscribing request asks for, the same way
// for package sse and package ws: its topics and the ID it resumes from.
package request

import "net/http"

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
