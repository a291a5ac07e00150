package servers

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
)

// statsCount returns the int field of the struct that v's method Stats
// returns, and whether v has such a method and field. The ours servers
// count subscribers this way, not by calling Stats, because they are built
// against other revisions of the library too (the -baseline flag) and
// Stats is not part of the API every revision keeps.
func statsCount(v any, field string) (int, bool) {
	m := reflect.ValueOf(v).MethodByName("Stats")
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 || m.Type().Out(0).Kind() != reflect.Struct {
		return 0, false
	}
	f := m.Call(nil)[0].FieldByName(field)
	if !f.IsValid() || !f.CanInt() {
		return 0, false
	}
	return int(f.Int()), true
}

// subscriberCount counts the subscribers of one of our servers: from the
// int field of its Stats where the revision has one, else with a
// connCounter. The wrapped listener is the fallback only, as it hides
// *net.TCPConn from the library (socket options, vectored writes).
type subscriberCount struct {
	v     any    // the Broker or Hub
	field string // the field of its Stats
	stats bool   // v has Stats with field
	cc    connCounter
}

// newSubscriberCount counts v's subscribers with the first of fields its
// Stats has (the name changed between revisions).
func newSubscriberCount(v any, fields ...string) *subscriberCount {
	for _, f := range fields {
		if _, ok := statsCount(v, f); ok {
			return &subscriberCount{v: v, field: f, stats: true}
		}
	}
	return &subscriberCount{v: v, field: fields[0]}
}

// setOption sets the first of the int fields names that the options
// struct *opts has to n (a bool field to n != 0): an option's name may
// differ between the revisions the ours servers are built against, and a
// revision may lack it.
func setOption(opts any, n int, names ...string) {
	o := reflect.ValueOf(opts).Elem()
	for _, name := range names {
		f := o.FieldByName(name)
		switch {
		case !f.IsValid() || !f.CanSet():
		case f.Kind() == reflect.Int:
			f.SetInt(int64(n))
			return
		case f.Kind() == reflect.Bool:
			f.SetBool(n != 0)
			return
		}
	}
}

// listener returns the listener to serve subscribers on: ln, or ln wrapped
// to count them when there is no Stats field to read.
func (c *subscriberCount) listener(ln net.Listener) net.Listener {
	if c.stats {
		return ln
	}
	fmt.Fprintf(os.Stderr, "servers: %T has no Stats().%s in this revision: counting answered connections instead\n", c.v, c.field)
	c.cc.Listener = ln
	return &c.cc
}

// count returns how many subscribers there are now.
func (c *subscriberCount) count() int {
	if c.stats {
		n, _ := statsCount(c.v, c.field)
		return n
	}
	return int(c.cc.open.Load())
}

// connCounter wraps a listener to count the connections the server has
// answered (written to) and not closed, hijacked ones included: the
// subscriber count of a server whose revision has no Stats field to read.
// A server answers a subscriber once it has subscribed it, so a message
// published once the count is reached reaches it.
type connCounter struct {
	net.Listener
	open atomic.Int64
}

func (l *connCounter) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: nc, l: l}, nil
}

type countedConn struct {
	net.Conn
	l        *connCounter
	answered atomic.Bool // fast path of Write; set under mu
	mu       sync.Mutex
	closed   bool
}

func (c *countedConn) Write(p []byte) (int, error) {
	if !c.answered.Load() {
		c.mu.Lock()
		if !c.closed && !c.answered.Load() {
			c.answered.Store(true)
			c.l.open.Add(1)
		}
		c.mu.Unlock()
	}
	return c.Conn.Write(p)
}

func (c *countedConn) Close() error {
	c.mu.Lock()
	if !c.closed && c.answered.Load() {
		c.l.open.Add(-1)
	}
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}
