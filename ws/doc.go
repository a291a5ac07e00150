// Package ws is a WebSocket server (RFC 6455) for net/http, built on the
// handshake and frame reader of golang.org/x/net/websocket.
//
// # Connections
//
// [Accept] upgrades one request to a [Conn]: a connection that assembles
// fragmented messages, validates UTF-8 (also across fragments, as the
// bytes arrive), enforces a read limit without reading what is over it,
// answers pings and close frames, pings idle peers, and fails a peer that
// breaks the protocol with the right close code (see [StatusCode]): 1002
// for a protocol error, 1007 for text that is not UTF-8, 1009 for a message
// over the limit. Every close it sends carries a reason. Read and Send
// return a [*CloseError] once the connection closes; [CloseStatus] gives
// its code.
//
// Sending never waits for the peer: [Conn.Send] queues the message, and a
// writer goroutine, started only while something waits, takes everything
// queued and writes it with one flush under a write deadline. A peer that
// cannot keep up is closed with [StatusSlowConsumer] instead of slowing
// anyone else down. An idle connection holds one goroutine and about 5 KiB.
//
// # Hub
//
// [Hub] is an http.Handler that fans messages out by topic to many
// connections. Clients choose topics with "topic" query parameters, or
// [HubOptions].Topics decides. [Hub.Publish] encodes each message once, in a
// small JSON envelope, and every connection writes the same bytes.
//
// A text message published with Publish(topic, MessageText, data) is a text
// frame holding a JSON object whose data is the text as a JSON string:
//
//	{"id":"Xk3fQ-12","topic":"room","data":"hello"}
//
// [Hub.PublishJSON] puts the JSON value itself in data:
//
//	{"id":"Xk3fQ-13","topic":"room","data":{"user":"ann","text":"hi"}}
//
// A binary message is a binary frame: a 2-byte big-endian length n, n bytes
// of the JSON object {"id":"...","topic":"..."}, then the data unchanged.
// Messages sent to one connection with [Conn.Send] are not wrapped.
//
// IDs are an epoch chosen when the hub starts and a sequence number shared
// by all topics. A client that reconnects with "lastEventId" set to the
// last ID it saw (a query parameter, or a Last-Event-ID header, which wins
// when both are present) gets every message of its topics after it from
// the history. When the history cannot cover them, it first gets a gap
// notice:
//
//	{"type":"gap","lastEventId":"Ab12x-3","reason":"history exceeded","id":"Xk3fQ-9"}
//
// reason is "unknown epoch", "malformed id", "future id" or "history
// exceeded"; id is the ID to resume from after the notice ("epoch-0" when
// the hub has published nothing yet), and the messages still in the
// history follow. Envelopes never have a "type" member; gap notices always
// do.
//
// [ClientScript] serves client.js, a small browser client that speaks this
// protocol: it reconnects with a jittered backoff, resumes with lastEventId
// and reports gaps.
//
// # Security
//
// Browsers' pages may only connect from the server's own origin unless
// [AcceptOptions].OriginPatterns allows more; programs that send no Origin
// header are always accepted. Origins no web page has (file:, ws:, browser
// extensions, null) are refused unless a pattern names them. A request for
// a host name the server does not answer to is refused too
// ([AcceptOptions].AllowedHosts; by default, a server listening on
// loopback answers to loopback names only), so that DNS rebinding cannot
// make another site's page same-origin. Every read, queue and wait is
// bounded by a named default; a message takes memory as its bytes arrive,
// not as its frame headers announce.
package ws
