package servers

import (
	"net"
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

// connCounter wraps a listener to count the connections it accepted that
// are not closed yet, hijacked ones included: the subscriber count of a
// server whose revision has no Stats field to read. It counts handshakes
// in progress too.
type connCounter struct {
	net.Listener
	open atomic.Int64
}

func (l *connCounter) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: nc, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
