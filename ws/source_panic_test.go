package ws

import (
	"context"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/internal/testutil"
)

// sourceFunc is a HistorySource made of a function.
type sourceFunc func(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error

func (f sourceFunc) Replay(ctx context.Context, topics []string, after, upTo uint64, yield func(Record) bool) error {
	return f(ctx, topics, after, upTo, yield)
}

// A HistorySource that panics costs the resuming connection a gap notice,
// as one that fails does, and the log says why: the server goes on.
func TestHubHistorySourcePanicIsAGap(t *testing.T) {
	var logs testutil.Buffer
	panicking := sourceFunc(func(context.Context, []string, uint64, uint64, func(Record) bool) error {
		panic("source bug")
	})
	h, srv := serveHub(t, HubOptions{Epoch: "cluster", History: panicking, HistorySize: 2,
		Conn: AcceptOptions{Logger: logs.Logger()}})
	for i := range 5 {
		h.PublishAt(uint64(i+1), "a", MessageText, []byte{byte('1' + i)})
	}
	for range 2 { // the second resume finds the server as the first left it
		c := dial(t, srv.URL+"?topic=a&lastEventId=cluster-1", nil)
		if got := readIDs(t, c, 3); strings.Join(got, " ") != "gap:history unavailable cluster-4 cluster-5" {
			t.Errorf("got %q, want a gap then what the history holds", got)
		}
	}
	if !strings.Contains(logs.String(), "source bug") || !strings.Contains(logs.String(), "panic") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
}

// A HistorySource that yields a record out of order, or of a topic it was
// not asked for, costs the resuming connection a gap notice, and the log
// says why in ws's words.
func TestHubHistorySourceMisorderIsLogged(t *testing.T) {
	for name, yields := range map[string][]Record{
		"out of order":  {{Seq: 3, Topic: "a", Type: MessageText}, {Seq: 2, Topic: "a", Type: MessageText}},
		"not asked for": {{Seq: 2, Topic: "b", Type: MessageText}},
	} {
		var logs testutil.Buffer
		src := sourceFunc(func(_ context.Context, _ []string, _, _ uint64, yield func(Record) bool) error {
			for _, r := range yields {
				if !yield(r) {
					break
				}
			}
			return nil
		})
		h, srv := serveHub(t, HubOptions{Epoch: "cluster", History: src, HistorySize: 2,
			Conn: AcceptOptions{Logger: logs.Logger()}})
		for i := range 5 {
			h.PublishAt(uint64(i+1), "a", MessageText, []byte{byte('1' + i)})
		}
		c := dial(t, srv.URL+"?topic=a&lastEventId=cluster-1", nil)
		if got := readIDs(t, c, 3); !strings.Contains(strings.Join(got, " "), "gap:history unavailable") {
			t.Errorf("%s: got %q, want a gap", name, got)
		}
		if !strings.Contains(logs.String(), "ws: HistorySource") || !strings.Contains(logs.String(), name) {
			t.Errorf("%s: the log does not say why:\n%s", name, logs.String())
		}
	}
}
