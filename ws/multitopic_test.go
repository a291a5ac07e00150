package ws

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtime-go/realtime/internal/hub"
	"github.com/realtime-go/realtime/internal/leakcheck"
	"github.com/realtime-go/realtime/internal/waitfor"
	"github.com/realtime-go/realtime/internal/wstest"
)

// TestHubMultiTopicJoinLeaveResumeUnderLoad: while three publishers burst
// on three topics, clients of two of them whose connections join and
// leave the third, and clients that disconnect and resume from the last
// ID they read, get every message of the two topics once, in order, with
// no gap, over real sockets.
func TestHubMultiTopicJoinLeaveResumeUnderLoad(t *testing.T) {
	leakcheck.Check(t)
	conns := make(chan *Member, 16)
	h, srv := serveHub(t, HubOptions{
		Epoch:     "ep",
		OnConnect: func(c *Member, r *http.Request) { conns <- c },
	})
	const perTopic = 800
	const joiners, resumers = 3, 2
	var cs []*wstest.Conn
	for range joiners {
		cs = append(cs, dial(t, srv.URL+"?topic=a&topic=b", nil))
	}
	waitfor.Cond(t, "connections", waitTimeout, func() bool { return h.Stats().Clients == joiners })
	stop := make(chan struct{})
	var churn sync.WaitGroup
	for range joiners {
		c := <-conns
		churn.Go(func() {
			for in := false; ; in = !in {
				select {
				case <-stop:
					return
				default:
				}
				if in {
					c.Leave("c")
				} else if err := c.Join("c"); err != nil {
					return // closed
				}
			}
		})
	}
	drained := make(chan struct{})
	go func() { // the resumers' connections need no churn
		for {
			select {
			case <-conns:
			case <-drained:
				return
			}
		}
	}()
	errs := make(chan error, joiners+resumers)
	var readers sync.WaitGroup
	check := func(got *[]uint64, e envelope) error {
		if e.Type == "gap" {
			return fmt.Errorf("gap %+v", e)
		}
		_, s, ok := hub.ParseID(e.ID)
		if !ok {
			return fmt.Errorf("ID %q is not the hub's", e.ID)
		}
		if n := len(*got); n > 0 && s <= (*got)[n-1] {
			return fmt.Errorf("ID %s after %d", e.ID, (*got)[n-1])
		}
		*got = append(*got, s)
		return nil
	}
	for i, c := range cs {
		readers.Go(func() {
			var got []uint64
			ab := 0
			for ab < 2*perTopic {
				op, data, err := c.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("joiner %d after %d: %w", i, ab, err)
					return
				}
				e := decodeEnvelope(t, op, data)
				if err := check(&got, e); err != nil {
					errs <- fmt.Errorf("joiner %d: %w", i, err)
					return
				}
				if e.Topic != "c" {
					ab++
				}
			}
		})
	}
	for i := range resumers {
		readers.Go(func() {
			var got []uint64
			last := "ep-0" // from the first message, whenever this connects
			for ab := 0; ab < 2*perTopic; {
				u := srv.URL + "?topic=a&topic=b&lastEventId=" + url.QueryEscape(last)
				c, _, err := wstest.Dial("ws"+strings.TrimPrefix(u, "http"), nil)
				if err != nil {
					errs <- err
					return
				}
				for n := 0; n < 50+10*i && ab < 2*perTopic; n++ {
					c.SetReadDeadline(time.Now().Add(waitTimeout))
					op, data, err := c.ReadMessage()
					if err != nil {
						errs <- fmt.Errorf("resumer %d after %d, resumed from %s, %d read on this connection: %w (hub %+v)", i, ab, last, n, err, h.Stats())
						c.Close()
						return
					}
					e := decodeEnvelope(t, op, data)
					if err := check(&got, e); err != nil {
						errs <- fmt.Errorf("resumer %d: %w", i, err)
						c.Close()
						return
					}
					last = e.ID
					ab++
				}
				c.Close()
			}
		})
	}
	var pubs sync.WaitGroup
	for _, topic := range []string{"a", "b", "c"} {
		pubs.Go(func() {
			for i := range perTopic {
				if _, err := h.Publish(topic, MessageText, fmt.Appendf(nil, "%s%d", topic, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	pubs.Wait()
	readers.Wait()
	close(stop)
	churn.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range cs {
		c.Close()
	}
	close(drained)
}
