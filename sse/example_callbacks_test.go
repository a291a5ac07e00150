package sse_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/realtime-go/realtime/sse"
)

type userKey struct{}

// OnConnect and OnClose see each stream start and end, with its request:
// here, who is watching which topics, and why they stopped.
func ExampleBrokerOptions_callbacks() {
	closed := make(chan struct{})
	b := sse.NewBroker(sse.BrokerOptions{
		OnConnect: func(r *http.Request, topics []string) {
			fmt.Println(r.Context().Value(userKey{}), "watches", topics)
		},
		OnClose: func(r *http.Request, err error) {
			fmt.Println(r.Context().Value(userKey{}), "left:", errors.Is(err, sse.ErrClientGone))
			close(closed)
		},
	})
	auth := func(next http.Handler) http.Handler { // a stand-in for real authentication
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, "ann")))
		})
	}
	srv := httptest.NewServer(auth(b))
	defer srv.Close()
	defer b.Shutdown(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?topic=prices", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	cancel() // the client goes away
	resp.Body.Close()
	<-closed
	// Output:
	// ann watches [prices]
	// ann left: true
}
