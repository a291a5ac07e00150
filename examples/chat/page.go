package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"

	"github.com/realtime-go/realtime/ws"
)

// backlog is how many past events, counted across all topics, a page asks
// for when it opens, so that it starts with the recent conversation.
const backlog = 200

// defaultRooms are the rooms a new page joins.
var defaultRooms = []string{"general", "random"}

//go:embed static
var static embed.FS

var (
	chatPage = template.Must(template.ParseFS(static, "static/index.html"))
	feedPage = template.Must(template.ParseFS(static, "static/feed.html"))
)

// pageConfig is what a page learns from the server when it loads.
type pageConfig struct {
	Session         string   `json:"session,omitempty"` // a new session token, for a tab that has none
	Rooms           []string `json:"rooms"`
	Since           string   `json:"since"` // ID to resume from for the backlog
	MaxNickLength   int      `json:"maxNickLength"`
	MaxRoomLength   int      `json:"maxRoomLength"`
	MaxMessageRunes int      `json:"maxMessageRunes"`
	MaxRooms        int      `json:"maxRooms"`
	MaxListed       int      `json:"maxListed"` // MaxMembersListed
	NickRule        string   `json:"nickRule"`
	RoomRule        string   `json:"roomRule"`
	NickPattern     string   `json:"nickPattern"` // a JavaScript RegExp of validNick
	RoomPattern     string   `json:"roomPattern"` // a JavaScript RegExp of validRoom
}

// newHandler returns the chat's routes.
func newHandler(c *chat) http.Handler {
	files, _ := fs.Sub(static, "static") // cannot fail: the folder is embedded
	mux := http.NewServeMux()
	mux.Handle("GET /ws", c.hub)
	mux.Handle("GET /ws/client.js", ws.ClientScript)
	mux.Handle("GET /events", c.feed)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		last := c.lastWS
		c.mu.Unlock()
		cfg := c.config(since(c.hub.Epoch(), last, backlog))
		cfg.Session = newSessionToken(c.key)
		render(w, chatPage, cfg)
	})
	// A tab whose session the server does not know (it restarted without
	// its state) asks for a new one here.
	mux.HandleFunc("GET /session", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]string{"session": newSessionToken(c.key)})
	})
	mux.HandleFunc("GET /feed", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		last := c.lastFeed
		c.mu.Unlock()
		render(w, feedPage, c.config(since(c.feed.Epoch(), last, backlog)))
	})
	return mux
}

func (c *chat) config(since string) pageConfig {
	return pageConfig{
		Rooms:           defaultRooms,
		Since:           since,
		MaxNickLength:   MaxNickLength,
		MaxRoomLength:   MaxRoomLength,
		MaxMessageRunes: MaxMessageRunes,
		MaxRooms:        MaxRoomsPerConn,
		MaxListed:       MaxMembersListed,
		NickRule:        errBadNick.Error(),
		RoomRule:        errBadRoom.Error(),
		NickPattern:     nickPattern,
		RoomPattern:     roomPattern,
	}
}

func render(w http.ResponseWriter, t *template.Template, cfg pageConfig) {
	js, _ := json.Marshal(cfg) // cannot fail
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	t.Execute(w, template.JS(js))
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

// shutdown closes every connection and stream.
func (c *chat) shutdown(ctx context.Context) error {
	c.closing.Store(true)
	return errors.Join(c.hub.Shutdown(ctx), c.feed.Shutdown(ctx))
}
