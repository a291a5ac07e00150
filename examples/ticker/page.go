package main

import (
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/realtime-go/realtime/sse"
)

// chartPoints is how many past moves per symbol a page asks for when it
// opens, so its charts start full. The page keeps as many.
const chartPoints = 120

//go:embed static
var static embed.FS

var page = template.Must(template.ParseFS(static, "static/index.html"))

// pageConfig is what the page learns from the server when it loads.
type pageConfig struct {
	Symbols []stock `json:"symbols"`
	// Since is the ID to resume from so that the page gets the last
	// chartPoints moves of every symbol, or all of them when fewer were
	// published.
	Since string `json:"since"`
}

// newHandler returns the ticker's routes: the page, its files and the
// event stream.
func newHandler(m *market, b *sse.Broker) http.Handler {
	files, _ := fs.Sub(static, "static") // cannot fail: the folder is embedded
	mux := http.NewServeMux()
	mux.Handle("GET /events", b)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		cfg := pageConfig{Symbols: m.snapshot(), Since: since(b.Epoch(), m.lastID(), chartPoints*len(m.stocks))}
		js, err := json.Marshal(cfg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		page.Execute(w, template.JS(js))
	})
	return mux
}

// since returns the ID to resume from to get the last n events, given the
// ID of the last one published ("" for none). IDs are "epoch-seq", one
// sequence for all topics, and "epoch-0" is before the first event.
func since(epoch, last string, n int) string {
	var seq uint64 // 0 when nothing was published
	if i := strings.LastIndexByte(last, '-'); i >= 0 {
		seq, _ = strconv.ParseUint(last[i+1:], 10, 64)
	}
	return epoch + "-" + strconv.FormatUint(seq-min(seq, uint64(n)), 10)
}
