package request

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RemoteHost returns the host part of r.RemoteAddr: the address of the
// client, or of the proxy in front of it.
func RemoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// PerAddr counts the clients held per address and bounds them, so that one
// client cannot take every slot of a server. The zero value, or a Max of
// zero or less, bounds nothing.
type PerAddr struct {
	Max int

	mu sync.Mutex
	n  map[string]int
}

// Acquire counts one more client of addr, unless addr holds Max already;
// it reports whether it did. Each successful Acquire needs one Release.
func (p *PerAddr) Acquire(addr string) bool {
	if p.Max <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[addr] >= p.Max {
		return false
	}
	if p.n == nil {
		p.n = make(map[string]int)
	}
	p.n[addr]++
	return true
}

// Release counts one client of addr less.
func (p *PerAddr) Release(addr string) {
	if p.Max <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[addr]--; p.n[addr] <= 0 {
		delete(p.n, addr)
	}
}

// TooMany answers 429 Too Many Requests to a client that holds as many
// connections as it may, with Retry-After as RetryLater sends it.
func TooMany(w http.ResponseWriter, retryAfter time.Duration) {
	RetryLater(w, http.StatusTooManyRequests, retryAfter, "Too Many Requests: this client holds as many connections as it may")
}

// RetryLater answers a request the server cannot take now with code (503
// or 429), msg as the body and retryAfter in the Retry-After header, in
// whole seconds rounded up.
func RetryLater(w http.ResponseWriter, code int, retryAfter time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
	http.Error(w, msg, code)
}
