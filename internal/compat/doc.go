// Package compat is the compatibility suite of realtime: the sse Broker,
// the ws Hub and a plain ws.Accept handler served behind the middleware,
// routers and proxies that net/http servers already have (chi,
// gorilla/handlers, gzip middlewares, http.TimeoutHandler,
// http.StripPrefix, ServeMux patterns, httputil.ReverseProxy), over
// HTTP/1.1 and HTTP/2, with real clients over 127.0.0.1.
//
// Each case checks what a user would: events and messages arrive, the
// access log records the real status, bytes and duration once a stream
// ends, and http.Server.Shutdown (with the Broker and Hub registered
// through RegisterOnShutdown) ends the streams. Where a combination
// cannot work (a wrapper that cannot flush, a handler that buffers the
// whole response), the library must refuse the request with an HTTP error
// status before sending anything, and log why.
//
// The package holds only tests. It is a module of its own so that the
// middleware it needs stays out of the core module's go.mod:
//
//	cd internal/compat && go test -race ./...
package compat
