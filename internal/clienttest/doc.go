// Package clienttest runs clients that nobody on the project wrote against
// a Broker and a Hub on 127.0.0.1: Node's ws and eventsource packages
// (installed with npm ci from testdata/node), Python's websockets and
// aiohttp (Debian's python3-websockets and python3-aiohttp), curl over
// HTTP/1.1 and HTTP/2, and Debian's Chromium (driven with chromedp). Each
// client is a real program, run as a subprocess or a browser tab and
// driven by a small script in testdata, and is checked for
// what a user of it would see: events in order and unbuffered, a resume
// that gets exactly what was missed, WebSocket messages both ways,
// permessage-deflate when the client offers it, and close codes both
// ways. What a client cannot do is listed as n/a in the test's table, not
// skipped.
//
// The package holds only tests. It is a module of its own so that what it
// needs stays out of the core module:
//
//	cd internal/clienttest && go test -v ./...
//
// A missing program fails the test with the command that installs it;
// .ci/run installs them first.
package clienttest
