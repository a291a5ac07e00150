package origin

import (
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// LogEvery is how often, at most, one logger gets a record for requests
// refused for one cause (a host, an origin): the first refusal is logged
// at once, the next ones once LogEvery has passed since, with the number
// left out in between. A server behind a misconfigured proxy refuses
// every request; one line every LogEvery says so without filling the log.
const LogEvery = 10 * time.Second

// Causes of a refusal, each with the fix its log record names.
const (
	// HostCause: the Host header (or the X-Forwarded-Host of a trusted
	// proxy) is not one the server answers to.
	HostCause = "host"
	// OriginCause: a browser page of another origin.
	OriginCause = "origin"
)

// fixes says, per cause, what the server's owner changes when the refused
// requests are their own users'.
var fixes = map[string]string{
	HostCause: "if clients use this name, list it in AllowedHosts (the examples: -allowed-hosts); " +
		"behind a proxy that sends the browser's host in X-Forwarded-Host, name the proxy's addresses in TrustedProxies instead",
	OriginCause: "if the page is this site's, behind a proxy: pass the browser's Host header on with its port " +
		"(nginx: proxy_set_header Host $http_host), or name the proxy's addresses in TrustedProxies when it sends X-Forwarded-Host, " +
		"or list the page's origin in OriginPatterns",
}

// maxLimited bounds the loggers and causes the limiter keeps track of;
// past it, it starts afresh (a few more records, never more memory).
const maxLimited = 64

type limitKey struct {
	log   *slog.Logger
	cause string
}

type limitState struct {
	last    time.Time // when the last record was written
	dropped int       // refusals left out since
}

var limiter struct {
	mu   sync.Mutex
	seen map[limitKey]*limitState
}

// LogRefusal logs at Warn on log that r was refused for cause with err,
// naming the fix, unless log had a record for cause less than LogEvery
// ago: then it only counts the refusal, and the next record says how many
// were left out.
func LogRefusal(log *slog.Logger, r *http.Request, cause string, err error) {
	now := time.Now()
	limiter.mu.Lock()
	if limiter.seen == nil || len(limiter.seen) >= maxLimited {
		limiter.seen = make(map[limitKey]*limitState)
	}
	k := limitKey{log, cause}
	st := limiter.seen[k]
	if st != nil && now.Sub(st.last) < LogEvery {
		st.dropped++
		limiter.mu.Unlock()
		return
	}
	if st == nil {
		st = &limitState{}
		limiter.seen[k] = st
	}
	dropped := st.dropped
	st.dropped, st.last = 0, now
	limiter.mu.Unlock()

	log.LogAttrs(r.Context(), slog.LevelWarn, "request refused (403): "+err.Error(),
		slog.String("fix", fixes[cause]),
		slog.String("host", truncate(r.Host)),
		slog.String("origin", truncate(r.Header.Get("Origin"))),
		slog.String("remote", r.RemoteAddr),
		slog.Int("moreRefusedSinceLastRecord", dropped),
		slog.Duration("loggedAtMostEvery", LogEvery))
}
