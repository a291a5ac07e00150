// Package ws is a WebSocket server (RFC 6455) for net/http, built on the
// handshake and frame reader of golang.org/x/net/websocket.
//
// [Accept] upgrades one request to a [Conn]: a connection that assembles
// fragmented messages, validates UTF-8, enforces a read limit, answers pings
// and close frames, pings idle peers, and closes a peer that breaks the
// protocol with the right close code (see [StatusCode]). Sending goes
// through a bounded queue drained by one writer per connection, which writes
// everything waiting at once under a write deadline, so a slow peer is
// closed with [StatusSlowConsumer] instead of slowing anyone else down.
//
// [Hub] is an http.Handler that fans messages out by topic to many
// connections, each message encoded once, with IDs that let a client that
// reconnects with a lastEventId query parameter get what it missed.
// [ClientScript] serves a small browser client that reconnects and resumes
// on its own.
//
// Browsers' pages may only connect from the server's own origin unless
// [AcceptOptions.OriginPatterns] allows more; programs that send no Origin
// header are always accepted.
//
// See the examples for an echo server and a hub.
package ws
