package compat

import "testing"

// TestCompat serves the Broker, the Hub and an Accept echo behind each
// middleware stack, over HTTP/1.1 and HTTP/2, and checks what a user of
// that stack would: events and messages arrive, access logs record the
// real status and bytes, request deadlines and srv.Shutdown and Close end
// streams, and what cannot work is refused before anything is sent, with
// a log that names the cause.
func TestCompat(t *testing.T) {
	var cases []compatCase
	for _, p := range []proto{h1, h2} {
		for _, s := range []string{"mux", "chi", "chi-timeout", "gorilla-logging", "gorilla-compress", "gzhttp", "chi-compress", "chi-compress-sse", "chi-compress-wraplog", "strip-prefix", "mux-patterns", "proxy-director", "proxy-documented"} {
			cases = append(cases, hubCase(s, p), echoCase(s, p))
		}
		for _, s := range []string{"mux", "chi", "gorilla-logging", "gorilla-compress", "gzhttp", "chi-compress", "chi-compress-sse", "chi-compress-wraplog", "strip-prefix", "mux-patterns", "proxy-director", "proxy-rewrite", "proxy-rewrite-xf", "proxy-documented"} {
			cases = append(cases, sseStreamCase(s, p))
		}
		cases = append(cases,
			wsRefusedCase("timeout-handler", p, noHijack),
			wsRefusedCase("naive-recorder", p, noHijack),
			wsRefusedCase("proxy-rewrite", p, crossOrigin),
			wsRefusedCase("proxy-rewrite-xf", p, untrustedForward),
			wsRefusalLoggedCase("timeout-handler", p, noHijack),
			wsRefusalLoggedCase("naive-recorder", p, noHijack),
			hubOriginPatternsCase("proxy-rewrite", p),
			echoOriginPatternsCase("proxy-rewrite", p),
			hubTrustingCase("proxy-rewrite-xf", p),
			echoTrustingCase("proxy-rewrite-xf", p),
			sseServerWriteTimeoutCase("mux", p),
			sseServerWriteTimeoutCase("chi", p),
			sseServerWriteTimeoutCase("gorilla-compress", p),
			sseDeadlineCase("chi-timeout", p),
			sseCloseCase("mux", p),
			sseRefusedCase("timeout-handler", p),
			sseRefusedCase("naive-recorder", p),
			sseRefusedCase("chi-compress-log", p),
			wsRefusedCase("chi-compress-log", p, noHijack),
			wsRefusalLoggedCase("chi-compress-log", p, noHijack),
		)
	}
	runCases(t, cases)
}
