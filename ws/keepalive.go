package ws

import (
	"fmt"
	"time"
)

// The keep-alive pings the peer every PingInterval and drops it when
// nothing at all, pong or otherwise, arrives within the pong timeout (half
// of PingInterval) of a ping, so a peer that vanishes is dropped within
// PingInterval + the pong timeout. The pong timeout counts from the
// ping's write: a writer that runs late on a busy machine, or waits for
// the peer to take earlier frames (which WriteTimeout bounds), does not
// make the peer late. A ping still unwritten at its check waits for the
// writer, which WriteTimeout bounds (without a write deadline, for one
// more pong timeout).
// It is a timer function, so an idle connection spends no goroutine on it.

// startKeepAlive arms the keep-alive timer unless keep-alive is off.
func (c *Conn) startKeepAlive() {
	if c.opts.PingInterval < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.keepAlive = time.AfterFunc(c.opts.PingInterval, c.keepAliveTick)
	}
}

// keepAliveTick pings the peer, or checks that it answered the last ping.
// Runs of it never overlap: each one re-arms the timer last.
func (c *Conn) keepAliveTick() {
	var next time.Duration
	if c.pingedAt != 0 {
		wrote := c.pingWrote.Load()
		now := time.Now().UnixNano()
		wait := time.Duration(wrote + int64(c.opts.pongTimeout) - now)
		switch {
		case wrote >= c.pingedAt && wait > 0:
			c.rearmKeepAlive(wait) // the ping went out late
			return
		case wrote < c.pingedAt && (c.opts.WriteTimeout > 0 || !c.pingLate):
			// The ping waits for the writer, which WriteTimeout bounds.
			c.pingLate = true
			c.rearmKeepAlive(c.opts.pongTimeout)
			return
		}
		c.pingLate = false
		if c.lastSeen.Load() < c.pingedAt {
			ce := &CloseError{Code: StatusPolicyViolation, Reason: "keep-alive: no pong in time", local: true}
			c.queueCloseCause(ce, fmt.Errorf("%w: %w", ce, ErrPongTimeout), true)
			return
		}
		c.pingedAt = 0
		// The next ping is due PingInterval after this one was sent.
		next = max(c.opts.PingInterval-c.opts.pongTimeout, 0)
	} else {
		c.pingedAt = time.Now().UnixNano()
		c.queuePing(nil)
		next = c.opts.pongTimeout
	}
	c.rearmKeepAlive(next)
}

// rearmKeepAlive runs keepAliveTick again after d, unless the connection
// ended.
func (c *Conn) rearmKeepAlive(d time.Duration) {
	c.mu.Lock()
	if !c.ended {
		c.keepAlive.Reset(d)
	}
	c.mu.Unlock()
}
