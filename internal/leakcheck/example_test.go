package leakcheck_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// A test calls Check before it starts anything that registers a cleanup, so
// that the server is closed by the time Check counts goroutines.
func ExampleCheck() {
	testGet := func(t *testing.T) {
		leakcheck.Check(t)
		srv := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(srv.Close) // runs before Check's cleanup
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	_ = testGet
}
