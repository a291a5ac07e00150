package main

import (
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/realtime-go/realtime/ws"
)

// pageTopics are the topics the page follows: one plain, one that a NATS
// subject could not carry as it is.
var pageTopics = []string{"news", "prices.EUR > USD"}

//go:embed static
var static embed.FS

var page = template.Must(template.ParseFS(static, "static/index.html"))

// pageConfig is what the page learns from the node that served it.
type pageConfig struct {
	Node   string   `json:"node"`
	Addr   string   `json:"addr"`
	Stream string   `json:"stream"`
	Epoch  string   `json:"epoch"`
	Topics []string `json:"topics"`
}

// routes returns the node's handler.
func (n *node) routes() http.Handler {
	files, _ := fs.Sub(static, "static") // cannot fail: the folder is embedded
	mux := http.NewServeMux()
	mux.Handle("GET /events", n.follow(n.broker, false))
	mux.Handle("GET /ws", n.follow(n.hub, true))
	mux.Handle("GET /ws/client.js", ws.ClientScript)
	mux.HandleFunc("POST /publish", n.servePublish)
	mux.HandleFunc("GET /healthz", n.serveHealth)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		cfg := pageConfig{Node: n.name, Addr: n.ln.Addr().String(), Stream: n.opts.Stream.Name, Epoch: n.epoch, Topics: pageTopics}
		js, _ := json.Marshal(cfg) // cannot fail
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		page.Execute(w, struct {
			Node   string
			Config template.JS
		}{n.name, template.JS(js)})
	})
	return mux
}
