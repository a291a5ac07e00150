package compat

import "testing"

// TestCompat runs the cases the library passes. Cases it does not pass
// yet are in pendingCases (pending_cases_test.go) and run only with the
// compatpending tag; a case moves here once the library passes it.
func TestCompat(t *testing.T) {
	var cases []compatCase
	for _, p := range []proto{h1, h2} {
		for _, s := range []string{"mux", "chi", "chi-timeout", "gorilla-logging", "gorilla-compress", "gzhttp", "chi-compress", "chi-compress-sse", "strip-prefix", "mux-patterns", "proxy-director", "proxy-documented"} {
			cases = append(cases, hubCase(s, p), echoCase(s, p))
		}
		cases = append(cases,
			wsRefusedCase("timeout-handler", p, noHijack),
			wsRefusedCase("naive-recorder", p, noHijack),
			wsRefusedCase("proxy-rewrite", p, crossOrigin),
			wsRefusedCase("proxy-rewrite-xf", p, untrustedForward),
			hubOriginPatternsCase("proxy-rewrite", p),
			echoOriginPatternsCase("proxy-rewrite", p),
			sseServerWriteTimeoutCase("mux", p),
			sseServerWriteTimeoutCase("chi", p),
		)
	}
	// Over HTTP/2 the Broker serves streams from their handlers.
	for _, s := range []string{"mux", "chi", "gorilla-logging", "gorilla-compress", "gzhttp", "chi-compress", "chi-compress-sse", "strip-prefix", "mux-patterns"} {
		cases = append(cases, sseStreamCase(s, h2))
	}
	cases = append(cases,
		sseDeadlineCase("chi-timeout", h2),
		sseCloseCase("mux", h2),
		sseServerWriteTimeoutCase("gorilla-compress", h2),
	)
	pending := make(map[string]bool)
	for _, c := range pendingCases() {
		pending[c.name] = true
	}
	for _, c := range cases {
		if pending[c.name] {
			t.Errorf("case %s is listed both here and in pendingCases: remove it from pendingCases", c.name)
		}
	}
	runCases(t, cases)
}
