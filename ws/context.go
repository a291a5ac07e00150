package ws

import "context"

// Context returns the connection's context: it carries the values of the
// handshake request's context (what authentication middleware put there)
// for a connection accepted by Accept or a Hub, or of Dial's context for a
// dialed one, and it is canceled once the connection has closed, with
// Err's value as its cause (see context.Cause). The request's own
// cancellation, and Dial's, do not end it. Values that SetContext attached
// are in it too.
//
// With it a server keeps what it knows of each connection on the
// connection, instead of in a map keyed by *Conn, and work started for a
// connection stops when it closes.
func (c *Conn) Context() context.Context { return *c.ctx.Load() }

// SetContext replaces the connection's context with one that has the
// values of ctx and ends when the connection closes: ctx's own
// cancellation and deadline are not kept. It is meant for
// HubOptions.OnConnect, to attach what it learned of the connection (the
// user, a session) for OnMessage and OnClose, which run after it; on a
// connection that is in use elsewhere, other goroutines see the new
// context at some point after the call. Derive ctx from c.Context() to
// keep the values that were there:
//
//	c.SetContext(context.WithValue(c.Context(), userKey{}, user))
func (c *Conn) SetContext(ctx context.Context) {
	nctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	context.AfterFunc(c.base, func() { cancel(context.Cause(c.base)) })
	c.ctx.Store(&nctx)
}
