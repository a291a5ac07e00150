package ws

import (
	"fmt"
	"time"
)

// keepAlive pings the peer every PingInterval and drops it when nothing at
// all, pong or otherwise, arrives within PongTimeout of a ping. It belongs
// to the writer goroutine.
type keepAlive struct {
	t        *time.Timer
	interval time.Duration
	timeout  time.Duration
	pingedAt int64 // unix nanoseconds of the ping waiting for an answer, or 0
}

func newKeepAlive(o *AcceptOptions) *keepAlive {
	if o.PingInterval < 0 {
		return &keepAlive{}
	}
	return &keepAlive{t: time.NewTimer(o.PingInterval), interval: o.PingInterval, timeout: o.PongTimeout}
}

// c returns the timer's channel, or nil when keep-alive is off.
func (k *keepAlive) c() <-chan time.Time {
	if k.t == nil {
		return nil
	}
	return k.t.C
}

func (k *keepAlive) stop() {
	if k.t != nil {
		k.t.Stop()
	}
}

// tick pings the peer, or checks that it answered the last ping.
func (k *keepAlive) tick(c *Conn) {
	if k.pingedAt != 0 {
		if c.lastSeen.Load() < k.pingedAt {
			ce := &CloseError{Code: StatusPolicyViolation, Reason: "keep-alive: no pong in time", Local: true}
			c.queueCloseCause(ce, fmt.Errorf("%w: %w", ce, ErrPongTimeout), true)
			return
		}
		k.pingedAt = 0
		k.t.Reset(k.interval)
		return
	}
	k.pingedAt = time.Now().UnixNano()
	c.queueControl(opPing, nil)
	k.t.Reset(k.timeout)
}
