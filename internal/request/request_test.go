package request

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestLastEventID(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/?lastEventId=E-1", nil)
	if got := LastEventID(r); got != "E-1" {
		t.Errorf("query only: %q", got)
	}
	r.Header.Set("Last-Event-ID", "E-2")
	if got := LastEventID(r); got != "E-2" {
		t.Errorf("header and query: %q, want the header's", got)
	}
}

func TestTopics(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/?topic=a&topic=b", nil)
	if got, _ := Topics(r, nil); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("query topics %q", got)
	}
	refused := errors.New("no")
	if _, err := Topics(r, func(*http.Request) ([]string, error) { return nil, refused }); err != refused {
		t.Errorf("hook error %v", err)
	}
}
