// Package browsertest drives the example apps in headless Chromium the way a
// person uses them: it builds each example's binary, starts it on a free
// port of 127.0.0.1, opens its pages, types, clicks, restarts the server on
// the same port, and checks what the pages show. It also runs the browser
// client of package ws (ws/client.js) against a ws.Hub served on
// 127.0.0.1: reconnection with backoff, resume across a server restart,
// gaps, joining and leaving topics, and direct messages.
//
// It is a module of its own so that the browser driver stays out of the core
// module's dependencies. Run it from this folder:
//
//	go test -race ./...
//
// It needs Debian's chromium at /usr/bin/chromium (or the path in the
// CHROMIUM environment variable). Screenshots go to .artifacts/ at the root
// of the repository.
package browsertest
