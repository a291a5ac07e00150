// Package proxytest runs the nginx and Caddy configurations of
// examples/PROXIES.md, as the page gives them, with the versions Debian
// ships (nginx 1.22 and Caddy 2.6 on Debian 12), in front of an
// sse.Broker and a ws.Hub on 127.0.0.1, and checks through each proxy
// what a browser relies on: events arrive as they are published, over
// HTTP/1.1 and HTTP/2; a stream resumes with Last-Event-ID; WebSockets
// upgrade, with the host and origin checks refusing a spoofed host or
// origin and accepting the site's own; and a restart of the backend, during
// which the proxy answers 502, loses nothing for a client that resumes. A
// backend on loopback not told the site's name (AllowedHosts) refuses it
// with 403 and logs the fix.
//
// The configurations are read from the page's first nginx and caddyfile
// code blocks, so the page is what is tested; the tests change only what
// a test must (listen addresses, the backend's port, the certificate,
// which the test makes with crypto/x509, and the site name).
//
// The package holds only tests. It is a module of its own, and needs
// Debian's nginx and caddy (NGINX and CADDY name other binaries), which
// .ci/run installs:
//
//	cd internal/proxytest && go test -race ./...
package proxytest
