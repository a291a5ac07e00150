package main

import (
	"errors"
	"runtime"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/realtime-go/realtime/sse"
	"github.com/realtime-go/realtime/ws"
)

// A filtered node applies its consumer's messages in parallel across
// topics, in order within each: the goroutine that reads the consumer
// hands each message to one of its workers, the same one for every
// message of a topic (a hash of its subject), and each worker applies
// its messages in turn with PublishAt. A filtered Broker and Hub keep
// what PublishAt applied unreadable until the applier's watermark, given
// with SkipTo (by giveMarks), passes it: the highest sequence such that
// every message handed out up to it was applied. Clients of several
// topics so read them in the stream's order, whichever worker applied
// each.

// defaultApplyWorkers is how many workers apply a filtered node's
// messages: one per processor the Go runtime uses (GOMAXPROCS).
func defaultApplyWorkers() int { return runtime.GOMAXPROCS(0) }

// flightOverhead is what a message handed to a worker counts for besides
// its subject and data, in bytes, against the bound on what is in flight
// (PendingBytes): it bounds how many tiny messages are in flight too.
const flightOverhead = 256

// workerOf returns the worker, of workers, that applies the messages of
// subject.
func workerOf(subject string, workers int) int {
	h := uint32(2166136261) // FNV-1a
	for i := range len(subject) {
		h = (h ^ uint32(subject[i])) * 16777619
	}
	return int(h % uint32(workers))
}

// A flight is a message handed to a worker, until the watermark passes it.
type flight struct {
	seq  uint64
	size int
	done bool
}

// inFlight tracks the messages handed to the workers, to find the
// watermark, and bounds them: a message counts until the watermark passes
// it, so that one a worker is slow to apply holds back the reader once
// max bytes are in flight, and the queue behind it is bounded too.
type inFlight struct {
	mu      sync.Mutex
	cond    *sync.Cond // broadcast when bytes drop, and when the node stops
	queue   []flight   // handed out and not yet below the watermark, in increasing seq
	base    uint64     // the number of queue[0]: each message handed out has the next
	bytes   int        // the sizes of the messages of queue
	max     int        // bound on bytes, but for one message alone
	mark    uint64     // the watermark
	stopped bool       // the node stops: nobody waits any more
}

func newInFlight(max int) *inFlight {
	f := &inFlight{max: max}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// add records a message handed out, once what is in flight leaves room
// for it (a message alone always fits), and returns its number for done.
// It returns false once the node stops.
func (f *inFlight) add(seq uint64, size int) (uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.bytes > 0 && f.bytes+size > f.max && !f.stopped {
		f.cond.Wait()
	}
	if f.stopped {
		return 0, false
	}
	f.queue = append(f.queue, flight{seq: seq, size: size})
	f.bytes += size
	return f.base + uint64(len(f.queue)) - 1, true
}

// done records that the message numbered k was applied (or skipped), and
// reports whether the watermark moved.
func (f *inFlight) done(k uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue[k-f.base].done = true
	moved := false
	for len(f.queue) > 0 && f.queue[0].done {
		f.mark = f.queue[0].seq
		f.bytes -= f.queue[0].size
		f.queue[0] = flight{}
		f.queue = f.queue[1:]
		f.base++
		moved = true
	}
	if moved {
		f.cond.Broadcast()
	}
	return moved
}

// watermark returns the watermark.
func (f *inFlight) watermark() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mark
}

// stop wakes every wait: the node stops.
func (f *inFlight) stop() {
	f.mu.Lock()
	f.stopped = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// A job is a message for a worker: its stream sequence, and its number
// in inFlight.
type job struct {
	msg jetstream.Msg
	seq uint64
	k   uint64
}

// applyWorker applies the messages of jobs in turn until jobs is closed
// or the node stops, and tells moved when the watermark moved.
func (n *node) applyWorker(jobs <-chan job, f *inFlight, moved chan<- struct{}) {
	for j := range jobs {
		if n.ctx.Err() != nil {
			return
		}
		if r, ok := n.decodeMsg(j.msg, j.seq); ok {
			if err := n.publishRecord(r); err != nil {
				return // the node stops
			}
		}
		if f.done(j.k) {
			select {
			case moved <- struct{}{}:
			default: // told already
			}
		}
	}
}

// giveMarks gives the Broker and the Hub the watermark each time a worker
// tells moved that it moved, and once more when stop is closed: under
// load, one SkipTo covers all that the workers applied meanwhile. The
// node's bookkeeping follows what is readable.
func (n *node) giveMarks(f *inFlight, moved <-chan struct{}, stop <-chan struct{}) {
	var given uint64
	give := func() {
		if w := f.watermark(); w > given {
			n.watermark(w)
			storeMax(&n.lastAt, w)
			n.advance(w)
			given = w
		}
	}
	for {
		select {
		case <-moved:
			give()
		case <-stop:
			give()
			return
		}
	}
}

// watermark makes what a filtered node applied up to seq readable: every
// message of its topics up to seq was applied (see
// sse.BrokerOptions.Filtered). ErrStale means the head is past seq
// already.
func (n *node) watermark(seq uint64) {
	for _, err := range []error{n.broker.SkipTo(seq), n.hub.SkipTo(seq)} {
		if err != nil && !errors.Is(err, sse.ErrStale) && !errors.Is(err, ws.ErrStale) &&
			!errors.Is(err, sse.ErrClosed) && !errors.Is(err, ws.ErrClosed) {
			n.log.Warn("moving the watermark", "seq", seq, "err", err)
		}
	}
}
