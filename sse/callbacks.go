package sse

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"syscall"
)

// onConnect calls OnConnect, if set. A panic in it is logged and returned
// as an error: the stream then ends before it starts.
func (b *Broker) onConnect(r *http.Request, topics []string) (err error) {
	if b.opts.OnConnect == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			b.logPanic(r, "OnConnect", v)
			err = fmt.Errorf("sse: panic in OnConnect: %v", v)
		}
	}()
	b.opts.OnConnect(r, topics)
	return nil
}

// onClose calls OnClose, if set. A panic in it is logged.
func (b *Broker) onClose(r *http.Request, err error) {
	if b.opts.OnClose == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			b.logPanic(r, "OnClose", v)
		}
	}()
	b.opts.OnClose(r, err)
}

func (b *Broker) logPanic(r *http.Request, hook string, v any) {
	b.log.LogAttrs(r.Context(), slog.LevelError, "sse: panic in "+hook,
		slog.String("remote", r.RemoteAddr), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
}

// closeReason returns what OnClose is told of a stream that ended with
// err; failed says a write failed. A write that timed out is
// ErrSlowConsumer, and one that failed otherwise ErrClientGone.
func closeReason(err error, failed bool) error {
	switch {
	case !failed || errors.Is(err, ErrSlowConsumer) || errors.Is(err, ErrClientGone):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		return fmt.Errorf("%w: %w", ErrSlowConsumer, err)
	}
	return fmt.Errorf("%w: write failed: %w", ErrClientGone, err)
}
