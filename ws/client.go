package ws

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// clientJS is the browser client, documented at its top.
//
//go:embed client.js
var clientJS []byte

// ClientScript serves client.js, a small dependency-free browser client for
// a Hub: a RealtimeSocket reconnects with a jittered backoff and resumes
// from the last message ID it saw, and reports gaps. Its API is documented
// at the top of the file. Mount it next to the Hub:
//
//	http.Handle("/ws", hub)
//	http.Handle("/ws/client.js", ws.ClientScript)
//
// It answers GET and HEAD with JavaScript, an ETag and conditional
// requests, and must be revalidated, so a new version is picked up at once.
var ClientScript http.Handler = clientScript{}

var clientETag = func() string {
	sum := sha256.Sum256(clientJS)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

type clientScript struct{}

func (clientScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", clientETag)
	http.ServeContent(w, r, "client.js", time.Time{}, bytes.NewReader(clientJS))
}
