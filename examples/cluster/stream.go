package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the stream a node creates when it does not exist yet. A
// stream that exists is used as it is: the first node to start creates it.
const (
	// DefaultStream is the stream's name. Its subjects are "<name>.>".
	DefaultStream = "REALTIME"

	// DefaultMaxAge is how long the stream keeps a message: what a client
	// can resume from on any node, however long ago it left.
	DefaultMaxAge = 24 * time.Hour

	// DefaultMaxBytes bounds the stream's storage: 1 GiB. Past it the
	// oldest messages are deleted, and a resume from before them is a gap.
	DefaultMaxBytes = 1 << 30

	// DefaultDuplicates is how long JetStream remembers message IDs: a
	// publish retried within it with the same ID is stored once.
	DefaultDuplicates = 2 * time.Minute
)

// streamOptions describe the stream a node creates if it does not exist.
type streamOptions struct {
	Name       string
	Replicas   int           // 0: 1
	MaxMsgs    int64         // 0: no bound
	MaxBytes   int64         // 0: DefaultMaxBytes
	MaxAge     time.Duration // 0: DefaultMaxAge
	Duplicates time.Duration // 0: DefaultDuplicates
}

func (o streamOptions) config() jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:        o.Name,
		Description: "realtime examples/cluster: every topic's messages, in one order",
		Subjects:    []string{newSubjects(o.Name).all()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    max(o.Replicas, 1),
		MaxMsgs:     -1,
		MaxBytes:    DefaultMaxBytes,
		MaxAge:      DefaultMaxAge,
		Duplicates:  DefaultDuplicates,
	}
	if o.MaxMsgs > 0 {
		cfg.MaxMsgs = o.MaxMsgs
	}
	if o.MaxBytes > 0 {
		cfg.MaxBytes = o.MaxBytes
	}
	if o.MaxAge > 0 {
		cfg.MaxAge = o.MaxAge
	}
	if o.Duplicates > 0 {
		cfg.Duplicates = o.Duplicates
	}
	return cfg
}

// ensureStream returns the stream, creating it when it does not exist.
// Nodes that start together race to create it; the losers use the
// winner's.
func ensureStream(ctx context.Context, js jetstream.JetStream, o streamOptions, log *slog.Logger) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, o.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s: %w", o.Name, err)
	}
	s, err = js.CreateStream(ctx, o.config())
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = js.Stream(ctx, o.Name)
	} else if err == nil {
		log.Info("created stream", "stream", o.Name, "subjects", o.config().Subjects)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", o.Name, err)
	}
	return s, nil
}

// epochOf returns the epoch of the IDs of a stream: its creation time, in
// nanoseconds, base 36. Every node reads the same time from JetStream (it
// is fixed when the stream is created and kept in its store), and a stream
// deleted and created again, whose sequence starts again from 1, gets
// another: so the IDs of its messages are never taken for those of the old
// one, and a client that resumes from an old ID gets a gap ("unknown
// epoch") instead of the wrong messages.
func epochOf(info *jetstream.StreamInfo) (string, error) {
	c := info.Created
	if c.IsZero() || c.Year() < 2000 {
		return "", fmt.Errorf("stream %s: creation time %v is not usable as an epoch", info.Config.Name, c)
	}
	return strconv.FormatInt(c.UnixNano(), 36), nil
}
