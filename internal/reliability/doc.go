// Package reliability is the reliability suite of the sse and ws packages.
// It has no API: everything is in its tests, which run a server set up as
// the examples set theirs up (an http.Server with ReadHeaderTimeout, an
// sse.Broker at /events and a ws.Hub at /ws) on 127.0.0.1 and drive it
// with real clients over real sockets:
//
//   - faults: a server restart mid-stream (history saved and loaded),
//     clients that vanish without closing, clients that read one byte a
//     second or never read, and Shutdown under full load;
//   - bad input: malformed HTTP and WebSocket handshakes, slowloris and
//     huge headers, wrong methods, garbage, huge and foreign Last-Event-ID
//     values, and empty, huge and malicious topic names, each answered with
//     a status or close code while a well-behaved client keeps receiving
//     every message;
//   - attacks: the classes of the README's threat model ("What one client
//     can make the server hold"), each with N abusive clients at once
//     against a default Broker, a default Hub and the echo example's
//     handler, checking that the server's live heap stays inside the
//     budget the threat model states, that publishing goes on (its rate
//     is logged) and that well-behaved clients get every message
//     (attackrig_test.go);
//   - load and soak: many connections, half SSE and half WebSocket, under
//     steady publishing, with every message counted and goroutines and
//     memory checked for growth; and connect/disconnect cycles.
//
// Every test is bounded in count and time and stops by itself. The README
// test command, go test -race ./..., runs the short versions (scaled down
// under the race detector). Environment variables select the long ones:
//
//	REALTIME_SOAK=10m        run the load test for this long (default 4s)
//	                         with 10,000 connections
//	REALTIME_CONNS=10000     connections of the load test (default 1,000
//	                         under -race, 2,000 without, 10,000 with
//	                         REALTIME_SOAK)
//	REALTIME_CYCLES=100000   connect/disconnect cycles (default 2,000)
//	REALTIME_HOSTILE_CONNS=2000  abusive clients of each attack of the
//	                         adversarial suite (TestAttack*, TestHeaderOnlyFrames;
//	                         defaults from 64 to 400 per class, halved under
//	                         -race, quartered with -short)
//
// For example:
//
//	REALTIME_SOAK=10m REALTIME_CYCLES=100000 go test -run 'Soak|Cycles' -v -timeout 30m ./internal/reliability
//
// The load test keeps its clients in a child process (this test binary run
// again), so that each side of 10,000 connections stays under the
// per-process open-file limit and the server's memory is measured alone.
// The Reliability section of the repository's README lists what each test
// checks, the answer expected for every bad input, and the figures of the
// long runs.
package reliability
