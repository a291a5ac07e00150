package compat

import (
	"net/http"
	"testing"
)

// A compatCase is one stack, one protocol and one check.
type compatCase struct {
	name string
	run  func(t *testing.T)
}

func runCases(t *testing.T, cases []compatCase) {
	seen := make(map[string]bool)
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("case %s listed twice", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, c.run)
	}
}

// sseStreamCase: events arrive, the access log records the stream when it
// ends, srv.Shutdown drains it (checkSSEStream).
func sseStreamCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"sse/stream/" + stack + "/" + p.String(), func(t *testing.T) { checkSSEStream(t, st, p) }}
}

// sseDeadlineCase: the stream ends at the request's deadline
// (checkSSEDeadline).
func sseDeadlineCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"sse/deadline/" + stack + "/" + p.String(), func(t *testing.T) { checkSSEDeadline(t, st, p) }}
}

// sseCloseCase: srv.Close ends the stream (checkSSEClose).
func sseCloseCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"sse/close/" + stack + "/" + p.String(), func(t *testing.T) { checkSSEClose(t, st, p) }}
}

// sseRefusedCase: the stream is refused before anything is sent
// (checkSSERefused).
func sseRefusedCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"sse/refused/" + stack + "/" + p.String(), func(t *testing.T) { checkSSERefused(t, st, p) }}
}

// hubCase: the Hub works through the stack (checkHub).
func hubCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"ws/hub/" + stack + "/" + p.String(), func(t *testing.T) { checkHub(t, st, p, rigOptions{}) }}
}

// echoCase: a plain Accept handler works through the stack (checkEcho).
func echoCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"ws/echo/" + stack + "/" + p.String(), func(t *testing.T) { checkEcho(t, st, p, rigOptions{}) }}
}

// hubTrustingCase: the Hub works behind a proxy it trusts
// (checkHub with trustingProxies).
func hubTrustingCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"ws/hub-trusting-proxy/" + stack + "/" + p.String(), func(t *testing.T) { checkHub(t, st, p, trustingProxies) }}
}

// echoTrustingCase: Accept works behind a proxy it trusts (checkEcho with
// trustingProxies).
func echoTrustingCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"ws/echo-trusting-proxy/" + stack + "/" + p.String(), func(t *testing.T) { checkEcho(t, st, p, trustingProxies) }}
}

// hubOriginPatternsCase and echoOriginPatternsCase: the Hub and Accept
// work behind a proxy that rewrites Host when OriginPatterns names the
// public host.
func hubOriginPatternsCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"ws/hub-origin-patterns/" + stack + "/" + p.String(), func(t *testing.T) { checkHub(t, st, p, allowingLoopbackOrigins) }}
}

func echoOriginPatternsCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"ws/echo-origin-patterns/" + stack + "/" + p.String(), func(t *testing.T) { checkEcho(t, st, p, allowingLoopbackOrigins) }}
}

// sseServerWriteTimeoutCase: the server's WriteTimeout does not end a
// stream (checkSSEServerWriteTimeout).
func sseServerWriteTimeoutCase(stack string, p proto) compatCase {
	st := stacks[stack]
	return compatCase{"sse/server-write-timeout/" + stack + "/" + p.String(), func(t *testing.T) { checkSSEServerWriteTimeout(t, st, p) }}
}

// wsRefusalLoggedCase: the Hub logs its refusal (checkWSRefusalLogged).
func wsRefusalLoggedCase(stack string, p proto, want wsRefusal) compatCase {
	st := stacks[stack]
	return compatCase{"ws/refusal-logged/" + stack + "/" + p.String(), func(t *testing.T) { checkWSRefusalLogged(t, st, p, want) }}
}

// wsRefusedCase: the upgrade is refused with one of the statuses of want
// (checkWSRefused).
func wsRefusedCase(stack string, p proto, want wsRefusal) compatCase {
	st := stacks[stack]
	return compatCase{"ws/refused/" + stack + "/" + p.String(), func(t *testing.T) { checkWSRefused(t, st, p, want) }}
}

// Refusals a WebSocket handshake may get.
var (
	// noHijack: the stack's writer cannot hand the connection over.
	noHijack = wsRefusal{status: []int{http.StatusInternalServerError, http.StatusNotImplemented},
		why: "the connection cannot be hijacked through the stack"}
	// crossOrigin: the proxy rewrote Host and says nothing of the host
	// the page was served from, so the page's origin is not the request's
	// host.
	crossOrigin = wsRefusal{status: []int{http.StatusForbidden},
		why: "the proxy rewrote Host and sent no X-Forwarded-Host: the same-origin check cannot tell the page is ours"}
	// untrustedForward: the proxy rewrote Host and sent X-Forwarded-Host,
	// but nothing says to trust it: anyone can send that header.
	untrustedForward = wsRefusal{status: []int{http.StatusForbidden},
		why: "X-Forwarded-Host is trusted only from proxies the server names"}
)
