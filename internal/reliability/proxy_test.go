package reliability

import (
	"net"
	"sync"
	"testing"
)

// A proxy forwards TCP connections from its own address on 127.0.0.1 to a
// target, until blackhole makes it stop: from then on it neither reads nor
// writes nor closes either side, as a client whose machine vanished from
// the network would (no FIN, no RST), while its kernel buffers fill.
type proxy struct {
	ln     net.Listener
	target string
	hole   chan struct{} // closed by blackhole
	done   chan struct{} // closed by close
	once   sync.Once
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

// startProxy starts a proxy to target that stops when the test ends.
func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, hole: make(chan struct{}), done: make(chan struct{})}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := smallBuffers.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// pipe copies src to dst until the proxy is blackholed or closed.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 16<<10)
	for {
		select {
		case <-p.hole:
			<-p.done
			return
		default:
		}
		n, err := src.Read(buf)
		select {
		case <-p.hole:
			<-p.done
			return
		default:
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// blackhole stops all traffic through the proxy, leaving every connection
// open.
func (p *proxy) blackhole() { close(p.hole) }

// close closes every connection and waits for the proxy's goroutines.
func (p *proxy) close() {
	p.once.Do(func() {
		close(p.done)
		p.ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}
