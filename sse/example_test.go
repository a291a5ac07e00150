package sse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/realtime-go/realtime/sse"
)

func ExampleReader() {
	stream := "retry: 1000\r\n: a comment\r\nid: 7\r\nevent: greeting\r\ndata: hello\r\ndata: world\r\n\r\ndata: no id given\r\n\r\n"
	r := sse.NewReader(strings.NewReader(stream))
	for {
		ev, err := r.Next()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("id=%s type=%s data=%q\n", ev.ID, ev.Type, ev.Data)
	}
	fmt.Println("reconnect after", r.Retry())
	// Output:
	// id=7 type=greeting data="hello\nworld"
	// id=7 type=message data="no id given"
	// EOF
	// reconnect after 1s
}

func ExampleBroker() {
	b := sse.NewBroker(sse.BrokerOptions{})
	srv := httptest.NewServer(b) // in a program: http.Handle("/events", b)
	defer srv.Close()
	defer b.Shutdown(context.Background())

	resp, err := http.Get(srv.URL + "?topic=prices")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"))

	b.Publish("prices", sse.Event{Type: "tick", Data: `{"ACME":12.5}`})
	b.Publish("news", sse.Event{Data: "not subscribed"})
	b.Publish("prices", sse.Event{Data: `{"ACME":12.75}`})

	r := sse.NewReader(resp.Body)
	for range 2 {
		ev, err := r.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.Type, ev.Data)
	}
	// Output:
	// text/event-stream
	// tick {"ACME":12.5}
	// message {"ACME":12.75}
}

// A stream lives in its handler, so http.Server.Shutdown ends the streams
// once the Broker's Shutdown is registered with it: each gets the events
// published before, then a clean end (a browser reconnects, to the next
// server). ConnContext lets each stream bound what the kernel holds for
// a client that does not read.
func ExampleBroker_shutdown() {
	b := sse.NewBroker(sse.BrokerOptions{})
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second, ConnContext: sse.ConnContext}
	srv.RegisterOnShutdown(func() { b.Shutdown(context.Background()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)

	resp, err := http.Get("http://" + ln.Addr().String() + "/events?topic=news")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b.Publish("news", sse.Event{Data: "published before shutdown"})
	srv.Shutdown(context.Background())

	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(ev.Data)
	}
	// Output:
	// published before shutdown
	// EOF
}

func ExampleWriter() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		sw := sse.NewWriter(w)
		for i := range 3 {
			if err := sw.Send(sse.Event{ID: fmt.Sprint(i), Data: "tick"}); err != nil {
				return // the client went away or stalled
			}
		}
	}
	rec := httptest.NewRecorder()
	handler(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Print(rec.Body.String())
	// Output:
	// id: 0
	// data: tick
	//
	// id: 1
	// data: tick
	//
	// id: 2
	// data: tick
}

func ExampleClient() {
	b := sse.NewBroker(sse.BrokerOptions{})
	srv := httptest.NewServer(b)
	defer srv.Close()
	defer b.Shutdown(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := (&sse.Client{}).Subscribe(ctx, srv.URL+"?topic=news", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	b.Publish("news", sse.Event{Data: "hello"})
	ev, err := s.Next()
	fmt.Println(ev.Data, err, ev.ID == s.LastEventID())
	// Output:
	// hello <nil> true
}

func ExampleStatusError() {
	b := sse.NewBroker(sse.BrokerOptions{
		Topics: func(r *http.Request) ([]string, error) {
			user := r.Header.Get("X-User") // a real server checks a session
			if user == "" {
				return nil, &sse.StatusError{Code: http.StatusUnauthorized, Err: fmt.Errorf("log in to follow your feed")}
			}
			return []string{"user:" + user}, nil
		},
	})
	srv := httptest.NewServer(b)
	defer srv.Close()
	defer b.Shutdown(context.Background())

	_, err := (&sse.Client{}).Subscribe(context.Background(), srv.URL, "")
	fmt.Println(err)
	// Output:
	// status 401 Unauthorized: log in to follow your feed
}

// Connect reads the event stream a server sends in answer to a POST with a
// JSON body, as streaming APIs do; a retry after an error sends the body
// again. The answer ends with "[DONE]" or, for APIs that send none, with
// io.EOF when the server ends the stream.
func ExampleClient_Connect() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Prompt string }
		json.NewDecoder(r.Body).Decode(&req)
		sw := sse.NewWriter(w)
		for _, word := range strings.Fields("you asked: " + req.Prompt) {
			sw.Send(sse.Event{Data: word})
		}
		sw.Send(sse.Event{Data: "[DONE]"})
	}))
	defer api.Close()

	req, _ := http.NewRequest(http.MethodPost, api.URL, strings.NewReader(`{"prompt":"hello there"}`))
	req.Header.Set("Content-Type", "application/json")
	stream, err := (&sse.Client{MaxRetries: 3}).Connect(req)
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()
	for {
		ev, err := stream.Next()
		if err == io.EOF || ev.Data == "[DONE]" {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Data)
	}
	// Output:
	// you
	// asked:
	// hello
	// there
}
