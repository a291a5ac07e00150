package request

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/?topic=a&topic=b&lastEventId=E-1", nil)
	topics, id, err := Read(r, nil)
	if !slices.Equal(topics, []string{"a", "b"}) || id != "E-1" || err != nil {
		t.Errorf("query: %q, %q, %v", topics, id, err)
	}
	r.Header.Set("Last-Event-ID", "E-2")
	if _, id, _ := Read(r, nil); id != "E-2" {
		t.Errorf("header and query: %q, want the header's", id)
	}
	refused := errors.New("no")
	if _, _, err := Read(r, func(*http.Request) ([]string, error) { return nil, refused }); err != refused {
		t.Errorf("hook error %v", err)
	}
	// A hook may drop the resume ID: it is read after the hook.
	r = httptest.NewRequest(http.MethodGet, "/?topic=a&lastEventId=E-1", nil)
	r.Header.Set("Last-Event-ID", "E-2")
	drop := func(r *http.Request) ([]string, error) {
		r.URL.RawQuery = "topic=a"
		r.Header.Del("Last-Event-ID")
		return []string{"a"}, nil
	}
	if _, id, _ := Read(r, drop); id != "" {
		t.Errorf("a hook dropped the resume ID: %q", id)
	}
	r = httptest.NewRequest(http.MethodGet, "/?topic=a&topic=%zz", nil)
	if _, _, err := Read(r, func(*http.Request) ([]string, error) { return []string{"a"}, nil }); err == nil {
		t.Error("a query read in part: no error, even with a hook")
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		target string
		header http.Header
		status int // 0: accepted
	}{
		{"/?topic=a&topic=b&lastEventId=E-1", nil, 0},
		{"/?topic=a%2Fb", http.Header{"Last-Event-ID": {"E-1"}}, 0},
		{"/?topic=a&topic=%zz", nil, 400},
		{"/?topic=a;topic=b", nil, 400},
		{"/?topic=a" + strings.Repeat("&x", 10000), nil, 400},
		{"/?topic=a&topic=a", nil, 400},
		{"/?topic=a&lastEventId=E-1&lastEventId=E-1", nil, 400},
		{"/?topic=a", http.Header{"Last-Event-ID": {"E-1", "E-2"}}, 400},
		{"/?topic=" + strings.Repeat("a", MaxRequestBytes), nil, 414},
		{"/?topic=a", http.Header{"Cookie": {strings.Repeat("c", MaxRequestBytes)}}, 431},
	} {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		for k, vs := range c.header {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		err := Check(r)
		got := 0
		if se, ok := errors.AsType[*StatusError](err); ok {
			got = se.Code
		} else if err != nil {
			t.Errorf("%.40s: %v, not a *StatusError", c.target, err)
		}
		if got != c.status {
			t.Errorf("%.40s %v: status %d (%v), want %d", c.target, c.header, got, err, c.status)
		}
	}
}
