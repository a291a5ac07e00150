package compat

// pendingCases are the cases the library does not pass yet (issue 10).
// They run only with the compatpending build tag (pending_test.go), so that
// main stays green; each comment gives the failure on main at 453d9bd.
// Once the library passes a case, move its line to TestCompat in
// compat_test.go (TestCompat fails while a case is in both lists).
func pendingCases() []compatCase {
	return []compatCase{
		// HTTP/1.1: the Broker takes the connection over and ServeHTTP
		// returns at once. Every stack fails with
		//   "srv.Shutdown returned with 1 streams still open" and, in most
		//   runs (ServeHTTP returns while the first events are written),
		//   "the server has 0 requests in its handler while the stream is
		//   open, want 1: the stream does not live in its handler";
		// those with an access log also with
		//   chi:     "chi middleware.Logger wrote the stream's line while the
		//            stream was still open: ... - 000 0B in 169µs", then
		//            "logged status 0, want 200", "logged 0 bytes, the client
		//            received 156", "logged a duration of 169µs, but the stream
		//            was open for at least 327µs";
		//   gorilla: "... \"GET /events?topic=t1 HTTP/1.1\" 200 0" while open,
		//            "logged 0 bytes, the client received 156".
		sseStreamCase("mux", h1),
		sseStreamCase("chi", h1),
		sseStreamCase("gorilla-logging", h1),
		sseStreamCase("gzhttp", h1),
		sseStreamCase("chi-compress", h1),
		sseStreamCase("chi-compress-sse", h1),
		sseStreamCase("strip-prefix", h1),
		sseStreamCase("mux-patterns", h1),
		// "event 1 of 3: sse: read: gzip: invalid header (the stream ended
		// after 12 bytes)": the takeover copies CompressHandler's
		// Content-Encoding: gzip onto a plain body.
		sseStreamCase("gorilla-compress", h1),
		sseServerWriteTimeoutCase("gorilla-compress", h1),
		// A reverse proxy in front of an HTTP/1.1 backend, whatever the
		// client's protocol: the backend takes the connection over, so
		// "srv.Shutdown returned with 1 streams still open" (the backend's).
		sseStreamCase("proxy-director", h1),
		sseStreamCase("proxy-director", h2),
		sseStreamCase("proxy-rewrite", h1),
		sseStreamCase("proxy-rewrite", h2),
		sseStreamCase("proxy-rewrite-xf", h1),
		sseStreamCase("proxy-rewrite-xf", h2),
		sseStreamCase("proxy-documented", h1),
		sseStreamCase("proxy-documented", h2),

		// "the stream was still open 10s after the request's deadline of
		// 500ms passed": a taken-over stream ignores the request context.
		sseDeadlineCase("chi-timeout", h1),

		// "the stream still delivers events 10s after srv.Close".
		sseCloseCase("mux", h1),

		// "answered 200 OK with Content-Type \"text/event-stream\" and body
		// \"retry: 2000\\n\", want a 5xx refusal before any event", "the
		// refusal carries event-stream bytes", "the Broker logged no error
		// for the refusal; it logged: [DEBUG sse: stream opened ..., DEBUG
		// sse: stream ended: client gone during a write reason=sse: the
		// response writer cannot flush ...]".
		sseRefusedCase("timeout-handler", h1),
		sseRefusedCase("timeout-handler", h2),
		sseRefusedCase("naive-recorder", h1),
		sseRefusedCase("naive-recorder", h2),

		// "the Hub's refusals cannot be logged: ws.HubOptions has no option
		// Logger" (the answer itself, 501, is checked in TestCompat). The
		// suite sets HubOptions.Logger by name (options_test.go).
		wsRefusalLoggedCase("timeout-handler", h1, noHijack),
		wsRefusalLoggedCase("timeout-handler", h2, noHijack),
		wsRefusalLoggedCase("naive-recorder", h1, noHijack),
		wsRefusalLoggedCase("naive-recorder", h2, noHijack),

		// "ws.HubOptions has no option TrustedProxies" and "ws.AcceptOptions
		// has no option TrustedProxies": behind Rewrite + SetURL +
		// SetXForwarded the page's own connection gets 403 today. The
		// suite sets the option by name, trustedProxiesOption in
		// options_test.go, to 127.0.0.1/32 ([]string, []netip.Prefix or
		// []netip.Addr), on HubOptions or HubOptions.Conn and on
		// AcceptOptions; rename it there if the option is called otherwise.
		hubTrustingCase("proxy-rewrite-xf", h1),
		hubTrustingCase("proxy-rewrite-xf", h2),
		echoTrustingCase("proxy-rewrite-xf", h1),
		echoTrustingCase("proxy-rewrite-xf", h2),
	}
}
