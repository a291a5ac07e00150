package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/realtime-go/realtime/internal/leakcheck"
)

// TestMemberConcurrentUse: Join, Leave, Topics, Send and SendJSON on
// Members from many goroutines at once, while the Hub publishes to their
// topics, over compressed connections of Dial's clients (masked by the
// client, compressed both ways): every Send that returned nil reaches its
// client, whole and in order, and a Join past MaxTopics fails without
// changing the topics. Then the same calls race Conn.Close and
// Hub.Shutdown: they fail with ErrClosed, and nothing panics or leaks.
func TestMemberConcurrentUse(t *testing.T) {
	leakcheck.Check(t)
	const clients, callers, calls = 4, 4, 20
	members := make(chan *Member, clients)
	h, srv := serveHub(t, HubOptions{
		MaxTopics: 3,
		Conn:      AcceptOptions{compressionThreshold: 1, SendBuffer: 1 << 22},
		OnConnect: func(m *Member, r *http.Request) { members <- m },
	})
	topics := []string{"a", "b", "c", "d", "e"}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	type result struct {
		directs []string // the data of each direct message, in order
		err     error
	}
	results := make([]chan result, clients)
	ms := make([]*Member, clients)
	for i := range clients {
		c, err := Dial(ctx, srv.URL+"?topic=a", &DialOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		if !c.compress {
			t.Fatal("compression not negotiated")
		}
		ms[i] = <-members
		results[i] = make(chan result, 1)
		go func() {
			var r result
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					r.err = err
					break
				}
				var env struct{ Type, Data string }
				if err := json.Unmarshal(data, &env); err != nil {
					r.err = fmt.Errorf("message %q: %w", data, err)
					break
				}
				if env.Type == "direct" {
					if env.Data == "end" {
						break
					}
					r.directs = append(r.directs, env.Data)
				}
			}
			results[i] <- r
			for r.err == nil { // answers the closing handshake
				_, _, r.err = c.Read(ctx)
			}
		}()
	}

	// A payload long enough to be compressed, that says who sent it.
	payload := func(caller, n int) string {
		return fmt.Sprintf("%d/%03d %s", caller, n, strings.Repeat("x", 600))
	}
	var published atomic.Int64
	sent := make([][callers][]string, clients) // per member, per caller: what Send took
	var wg sync.WaitGroup
	for i, m := range ms {
		for g := range callers {
			wg.Go(func() {
				for n := range calls {
					topic := topics[(i+g+n)%len(topics)]
					if err := m.Join(topic); err != nil && !errors.Is(err, errTooManyTopics) {
						t.Errorf("Join(%q): %v", topic, err)
					}
					if before := m.Topics(); m.Join(topics...) == nil {
						t.Errorf("Join of %d topics with MaxTopics 3 succeeded", len(topics))
					} else if len(before) == len(topics) {
						t.Errorf("member follows %v, over MaxTopics", before)
					}
					if n%3 == 0 {
						m.Leave(topic)
					}
					if _, err := h.Publish(topic, MessageText, []byte(strings.Repeat("p", 700))); err != nil {
						t.Errorf("Publish: %v", err)
					}
					published.Add(1)
					p := payload(g, n)
					var err error
					if n%2 == 0 {
						err = m.Send(MessageText, []byte(p))
					} else {
						err = m.SendJSON(p)
					}
					if err != nil {
						t.Errorf("Send: %v", err)
						continue
					}
					sent[i][g] = append(sent[i][g], p)
				}
			})
		}
	}
	wg.Wait()
	for i, m := range ms {
		if err := m.Send(MessageText, []byte("end")); err != nil {
			t.Fatal(err)
		}
		r := <-results[i]
		if r.err != nil {
			t.Fatalf("client %d: %v", i, r.err)
		}
		// Each caller's messages arrive in the order it sent them.
		var got [callers][]string
		for _, d := range r.directs {
			var g int
			if _, err := fmt.Sscanf(d, "%d/", &g); err != nil || g < 0 || g >= callers {
				t.Fatalf("client %d: direct message %.20q...", i, d)
			}
			got[g] = append(got[g], d)
		}
		for g := range callers {
			if fmt.Sprint(got[g]) != fmt.Sprint(sent[i][g]) {
				t.Errorf("client %d, caller %d: got %d direct messages, want the %d sent, in order", i, g, len(got[g]), len(sent[i][g]))
			}
		}
	}
	t.Logf("%d messages published during the calls", published.Load())

	// The same calls race closes and the Hub's shutdown.
	var race sync.WaitGroup
	for i, m := range ms {
		race.Go(func() {
			for n := 0; ; n++ {
				topic := topics[(i+n)%len(topics)]
				err1 := m.Join(topic)
				m.Leave(topic)
				m.Topics()
				err2 := m.Send(MessageText, []byte(payload(0, n)))
				err3 := m.SendJSON(n)
				if err1 != nil && !errors.Is(err1, errTooManyTopics) && !errors.Is(err1, ErrClosed) {
					t.Errorf("Join while closing: %v", err1)
				}
				for _, err := range []error{err2, err3} {
					if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrSendBufferFull) {
						t.Errorf("Send while closing: %v", err)
					}
				}
				if errors.Is(err2, ErrClosed) && errors.Is(err3, ErrClosed) {
					return
				}
			}
		})
		if i%2 == 0 {
			race.Go(func() { m.Conn().Close(StatusNormalClosure, "bye") })
		}
	}
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	race.Wait()
	for _, m := range ms {
		if err := m.Join("a"); !errors.Is(err, ErrClosed) {
			t.Errorf("Join after Shutdown = %v, want ErrClosed", err)
		}
		if err := m.Send(MessageText, []byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Send after Shutdown = %v, want ErrClosed", err)
		}
		m.Leave("a", "b")
		if got := m.Topics(); len(got) != 0 {
			t.Errorf("Topics after Shutdown = %v, want none", got)
		}
	}
}
