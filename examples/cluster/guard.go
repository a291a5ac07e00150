package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/realtime-go/realtime/internal/origin"
)

// How POST /publish is guarded, as a deployment that lets web pages read
// must: publishing takes a token (an Authorization: Bearer header, which
// no page of another site can make a browser send, and no HTML form can
// send at all), requests for a host name the node does not answer to or
// from a page of another origin are refused (DNS rebinding, cross-site
// requests), idempotency keys are scoped to the token that sent them, and
// the topics the nodes hold, and the bytes each holds, are bounded.

// Defaults of the publish guard.
const (
	// DefaultMaxTopics bounds the topics the nodes hold history for:
	// topics published to within DefaultTopicTTL. Past it, a publish to a
	// new topic gets 503 with Retry-After. Nodes that publish to new
	// topics at the same instant may each go one past it.
	DefaultMaxTopics = 100

	// DefaultTopicHistoryBytes bounds the history of each topic on each
	// node, in the Broker and in the Hub: 1 MiB each. With
	// DefaultMaxTopics, a node holds at most about 200 MiB of history.
	DefaultTopicHistoryBytes = 1 << 20

	// DefaultTopicTTL is how long a topic counts against MaxTopics after
	// its last message: as long as the Broker and the Hub keep it.
	DefaultTopicTTL = 10 * time.Minute // the default HistoryAge

	// publishTokenBytes is the size of a generated publish token.
	publishTokenBytes = 32
)

// newToken returns a new random token (to publish, or for NATS).
func newToken() string {
	b := make([]byte, publishTokenBytes)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// authorize checks a publish request: its Host, its Origin and its token.
// It returns the scope of the publisher's idempotency keys, or answers
// the request and returns false.
func (n *node) authorize(w http.ResponseWriter, r *http.Request) (scope string, ok bool) {
	if err := origin.CheckHost(r, n.opts.AllowedHosts); err != nil {
		http.Error(w, "Forbidden: "+err.Error(), http.StatusForbidden)
		return "", false
	}
	// No Origin: a program. Otherwise a page of this node's own origin.
	if err := origin.Check(r, nil); err != nil {
		http.Error(w, "Forbidden: "+err.Error(), http.StatusForbidden)
		return "", false
	}
	given, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(given))
	for _, tok := range n.opts.PublishTokens {
		want := sha256.Sum256([]byte(tok))
		if found && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			return hex.EncodeToString(want[:8]), true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="publish"`)
	http.Error(w, "Unauthorized: publishing takes the token the node was started with (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
	return "", false
}

// topicTable counts the topics the nodes hold history for: those with a
// message applied or published within ttl.
type topicTable struct {
	max int
	ttl time.Duration

	mu   sync.Mutex
	last map[string]time.Time // topic -> its last message
}

func newTopicTable(max int, ttl time.Duration) *topicTable {
	return &topicTable{max: max, ttl: ttl, last: make(map[string]time.Time)}
}

// seen records a message on topic at now.
func (t *topicTable) seen(topic string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last[topic] = now
}

// admit reports whether a message may be published to topic at now: the
// topic is held already, or there is room for one more, which it takes.
func (t *topicTable) admit(topic string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[topic]; ok && now.Sub(last) < t.ttl {
		t.last[topic] = now
		return true
	}
	if len(t.last) >= t.max {
		for k, last := range t.last {
			if now.Sub(last) >= t.ttl {
				delete(t.last, k)
			}
		}
		if len(t.last) >= t.max {
			return false
		}
	}
	t.last[topic] = now
	return true
}
