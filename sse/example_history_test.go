package sse_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/realtime-go/realtime/sse"
)

// Stopping a server that keeps its history across restarts, in order:
// first Broker.Shutdown, which ends the streams and waits for them, so
// that nothing is published after it; then http.Server.Shutdown; then
// SaveHistory, which has everything. (A function given to
// http.Server.RegisterOnShutdown runs in a goroutine that Shutdown does
// not wait for, so it gives SaveHistory no point to run after.) The next
// process loads the history before it serves, and a client that comes
// back with its last ID gets what it missed, with the same IDs.
func ExampleBroker_SaveHistory() {
	b := sse.NewBroker(sse.BrokerOptions{})
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	first, _ := b.Publish("news", sse.Event{Data: "one"})
	b.Publish("news", sse.Event{Data: "two"})

	// On SIGTERM:
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil { // 1. the streams end; Publish fails from now on
		fmt.Println(err)
	}
	if err := srv.Shutdown(ctx); err != nil { // 2. the server stops
		fmt.Println(err)
	}
	var saved bytes.Buffer                        // a file, in a real server
	if err := b.SaveHistory(&saved); err != nil { // 3. everything published is saved
		fmt.Println(err)
	}
	_, err = b.Publish("news", sse.Event{Data: "too late"})
	fmt.Println("publish after Shutdown:", errors.Is(err, sse.ErrClosed))

	// The next process: load, then serve.
	next := sse.NewBroker(sse.BrokerOptions{})
	if err := next.LoadHistory(&saved); err != nil {
		fmt.Println(err)
		return
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv2 := &http.Server{Handler: next, ReadHeaderTimeout: 10 * time.Second}
	go srv2.Serve(ln2)
	defer srv2.Shutdown(context.Background())
	defer next.Shutdown(context.Background())

	req, _ := http.NewRequest("GET", "http://"+ln2.Addr().String()+"/events?topic=news", nil)
	req.Header.Set("Last-Event-ID", first) // the browser's last event
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	ev, err := sse.NewReader(resp.Body).Next()
	fmt.Println(ev.Data, err, ev.ID == next.Epoch()+"-2")
	// Output:
	// publish after Shutdown: true
	// two <nil> true
}
