// Package sse serves and reads Server-Sent Events, the text/event-stream
// format of the WHATWG HTML standard that browsers consume with EventSource.
//
// The pieces, from the wire up:
//
//   - An [Event] is encoded exactly as the standard's parser reads it
//     back: an ID or event type can never inject a field, data is split
//     into lines, reconnection times are whole milliseconds.
//   - [Writer] writes one stream over any [net/http.ResponseWriter] (also
//     behind middleware that implements Unwrap), with the right headers, a
//     deadline on every write and a flush after each batch.
//   - [Broker] is an [net/http.Handler] that fans published events out to
//     every stream subscribed to their topic, replays what a reconnecting
//     browser missed (Last-Event-ID), reports a gap when it cannot, sends
//     heartbeats, bounds every buffer and shuts down cleanly.
//   - [Reader] parses a stream with the standard's algorithm, and [Client]
//     reads one with reconnects, for Go programs and tests.
//
// Adding live updates to a net/http server takes a few lines:
//
//	b := sse.NewBroker(sse.BrokerOptions{})
//	http.Handle("/events", b) // GET /events?topic=prices
//	...
//	b.Publish("prices", sse.Event{Data: `{"ACME":12.5}`})
//
// and in the page:
//
//	new EventSource("/events?topic=prices").onmessage = e => show(e.data)
//
// See the package examples, and examples/ticker in this module for a
// complete program.
package sse
