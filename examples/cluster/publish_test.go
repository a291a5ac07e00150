package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// A publish the Broker or Hub could not deliver gets a clear 4xx answer
// and is not stored; forms work as JSON does.
func TestPublishRequests(t *testing.T) {
	leakcheck.Check(t)
	ns := startNATS(t)
	n := startTestNode(t, "a", ns.url(), func(o *nodeOptions) { o.MaxPublishBody = 1024 })

	post := func(ct, body string, header ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, n.url+"/publish", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+testToken)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const js = "application/json"
	for _, tc := range []struct {
		name, ct, body string
		header         []string
		want           int
	}{
		{"no topic", js, `{"data":"x"}`, nil, 400},
		{"control character in topic", js, `{"topic":"a\nb","data":"x"}`, nil, 400},
		{"topic too long", js, `{"topic":"` + strings.Repeat("t", maxTopicLength+1) + `","data":"x"}`, nil, 400},
		{"no data", js, `{"topic":"a"}`, nil, 400},
		{"unknown field", js, `{"topic":"a","data":"x","extra":1}`, nil, 400},
		{"two values", js, `{"topic":"a","data":"x"}{}`, nil, 400},
		{"event type with a newline", js, `{"topic":"a","data":"x","event":"a\nb"}`, nil, 400},
		{"id with a space", js, `{"topic":"a","data":"x","id":"a b"}`, nil, 400},
		{"id too long", js, `{"topic":"a","data":"x"}`, []string{"Idempotency-Key", strings.Repeat("k", maxMsgIDLength+1)}, 400},
		{"not UTF-8 form data", "application/x-www-form-urlencoded", "topic=a&data=%ff", nil, 400},
		{"body too large", js, `{"topic":"a","data":"` + strings.Repeat("x", 2000) + `"}`, nil, 413},
		{"wrong type", "text/plain", "hello", nil, 415},
	} {
		if code, body := post(tc.ct, tc.body, tc.header...); code != tc.want {
			t.Errorf("%s: answered %d %q, want %d", tc.name, code, body, tc.want)
		}
	}
	info, err := n.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("refused publishes stored %d messages", info.State.Msgs)
	}

	from := n.epoch + "-0"
	c := followSSE(t, n.url, []string{"form topic"}, from)
	w := followWS(t, n.url, []string{"json"}, from)
	if code, body := post("application/x-www-form-urlencoded", "topic=form+topic&data=hello+form&event=note"); code != 200 {
		t.Fatalf("form publish: %d %s", code, body)
	}
	if code, body := post(js, `{"topic":"json","data":{"a":[1,2]}}`); code != 200 {
		t.Fatalf("JSON value publish: %d %s", code, body)
	}
	c.waitCount(t, 1)
	w.waitCount(t, 1)
	if g := c.snapshot()[0]; g.data != "hello form" {
		t.Errorf("form message arrived as %+v", g)
	}
	if g := w.snapshot()[0]; g.data != `{"a":[1,2]}` {
		t.Errorf("JSON value arrived as %+v", g)
	}
}
