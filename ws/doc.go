// Package ws is a WebSocket server (RFC 6455) for net/http, built on the
// opening handshake of golang.org/x/net/websocket, with frames read and
// written by its own code, a client for Go programs and a browser client
// for its Hub.
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
// return a [*CloseError] once the connection closes; errors.As finds it
// and its code.
//
// Sending never waits for the peer: [Conn.Send] queues the message, and a
// writer goroutine, started only while something waits, takes everything
// queued and writes it in one system call under a write deadline. What
// waits is bounded in bytes (AcceptOptions.SendBuffer): past it Send
// returns [ErrSendBufferFull] and the connection stays open, while
// [Conn.Write] waits for room with a context. A peer that takes nothing
// within the write deadline is closed with [StatusSlowConsumer] instead of
// slowing anyone else down. An idle connection holds one goroutine and
// about 5 KiB.
//
// # Compression
//
// A client that offers permessage-deflate (RFC 7692), as every browser
// does, gets it unless AcceptOptions.DisableCompression is set; the server
// answers only that offer and never an extension the client did not offer.
// Neither side keeps compression context between messages, so a connection
// holds no compressor or decompressor while idle (they are pooled), and a
// Hub compresses each broadcast once and sends the same compressed frame to
// every connection that negotiated it; the others get the uncompressed
// frame. Messages under 512 bytes go uncompressed. The read limit
// applies to the inflated size: a message that inflates past it is closed
// with 1009 as soon as inflating passes the limit. A message may inflate
// to 64 times its compressed size, each Huffman block it
// holds counting as bytes produced; past that it draws on the credit of
// its client's address (1 MiB) and of all clients (16 MiB), refilled over
// 10 minutes, and a message that finds too little left closes its
// connection with 1008. Clients made with [Dial] offer it the same way,
// unless DialOptions.DisableCompression is set.
//
// # Hub
//
// [Hub] is an http.Handler that fans messages out by topic to many
// connections. Clients choose topics with "topic" query parameters, or
// [HubOptions].Topics decides. [Hub.Publish] encodes each message once, in a
// small JSON envelope, and every connection writes the same bytes.
//
// Each connection of a Hub is a [Member], which its hooks get: the [Conn]
// (a WebSocket connection, the same as Accept's, that knows nothing of
// the Hub), the topics it follows, and the Hub's wire protocol for what
// the server sends it alone ([Member.Send], [Member.SendJSON]).
// [Member.Join] adds topics from the next message and [Member.Leave]
// removes them; a client that must not miss what was published to a topic
// it comes back to reconnects with lastEventId, as client.js does.
//
// What a server knows of a connection lives in its context:
// [Conn.Context] has the values of the handshake request's context (what
// authentication middleware put there) and ends when the connection
// closes; HubOptions.OnConnect adds its own with [Conn.SetContext]:
//
//	OnConnect: func(m *ws.Member, r *http.Request) {
//		c := m.Conn()
//		c.SetContext(context.WithValue(c.Context(), roomKey{}, r.URL.Query().Get("room")))
//	},
//	OnMessage: func(m *ws.Member, typ ws.MessageType, data []byte) {
//		room := m.Conn().Context().Value(roomKey{}).(string)
//		...
//	},
//
// # Wire protocol
//
// A Hub speaks the protocol "realtime.v1" ([Subprotocol]) with clients that
// offer it as a WebSocket subprotocol, as client.js does; the version is
// part of the name, and a later version will have another. On a
// realtime.v1 connection every message the server sends says what it is:
// a text message is a JSON object whose first member is "type", and a
// binary message is a 2-byte big-endian length n, n bytes of a JSON header
// with such a "type", then the data unchanged. The messages:
//
//	{"type":"message","id":"Xk3fQ-12","topic":"room","data":"hello"}
//	{"type":"message","id":"Xk3fQ-13","topic":"room","data":{"user":"ann","text":"hi"}}
//	[n]{"type":"message","id":"Xk3fQ-14","topic":"room"}<binary data>
//	{"type":"gap","lastEventId":"Ab12x-3","reason":"history exceeded","id":"Xk3fQ-9"}
//	{"type":"direct","data":"hello, you"}
//	{"type":"direct","data":{"ok":true}}
//	[n]{"type":"direct"}<binary data>
//
// "message" is a published message: Publish(topic, MessageText, data) puts
// the text in data as a JSON string, [Hub.PublishJSON] the JSON value
// itself, and a binary message carries id and topic in its header.
// "direct" is a message sent to this connection alone with [Member.Send]
// (text as a JSON string) or [Member.SendJSON] (the JSON value); it has no
// ID and does not move the client's resume point. "gap" is a gap notice
// (see below). A client ignores a type it does not know, so that types may
// be added to version 1; changing what a type means takes a new version.
// A hub message without a type is one that a Hub older than version 1
// saved with SaveHistory and a newer one replays; clients take it for a
// hub message.
// What a client sends is not wrapped: the Hub hands it to OnMessage as it
// came.
//
// A client that offers no subprotocol, or only others, gets the same hub
// messages and gap notices, and direct messages as they were sent, not
// wrapped: the protocol before version 1, which clients tell apart by
// their content (a hub message is an object with string "id" and "topic"
// and a "data" member). A Hub prefers realtime.v1 to the subprotocols of
// HubOptions.Conn. A [Conn] sends what it is given, whatever its
// subprotocol: the protocol is the Hub's, spoken by its Members.
//
// IDs are an epoch (HubOptions.Epoch, or one chosen when the Hub starts)
// and a sequence number shared by all topics. A client that reconnects with "lastEventId" set to the
// last ID it saw (a query parameter, or a Last-Event-ID header, which wins
// when both are present) gets every message of its topics after it from
// the history. When the history cannot cover them, it first gets a gap
// notice (its reasons are [Gap]'s): id is the ID to resume from after the
// notice ("epoch-0" when the hub has published nothing yet), and the
// messages still in the history follow.
//
// Connections have no queue of their own for published messages: each
// reads its topics' shared history from its own position. One that falls
// more than HubOptions.HistoryBytes behind gets a gap notice with reason
// "too slow" and goes on from the oldest message left, still connected.
//
// [ClientScript] serves client.js, a small browser client that speaks this
// protocol: it reconnects with a jittered backoff, resumes with lastEventId
// and reports gaps.
//
// # Clients
//
// [Dial] opens a connection from Go with x/net's client handshake and
// returns a [Conn] of the client role: the same message layer, with the
// frames it sends masked and masked frames from the server refused. The
// server's handshake answer is read up to 1 MiB and 100 header lines.
// [Subscribe] follows topics of a Hub as client.js does: it speaks
// realtime.v1, reconnects with a jittered backoff that starts over only
// once a connection delivered a message or stayed open 10 seconds,
// resumes from the last ID (up to 1 KiB) and returns gap notices as
// [Message]s whose Gap is set.
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
