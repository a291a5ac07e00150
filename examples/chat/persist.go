package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
)

// The state file holds a line of JSON with the last IDs, then the history
// of the WebSocket hub and that of the feed, each as a line with its
// length in bytes followed by what the SaveHistory method wrote.

// historian is what a ws.Hub and an sse.Broker have in common: they save
// and load their history.
type historian interface {
	SaveHistory(w io.Writer) error
	LoadHistory(r io.Reader) error
}

// maxSection bounds one history in the state file.
const maxSection = 256 << 20

type savedIDs struct {
	LastWS   string `json:"lastWs"`
	LastFeed string `json:"lastFeed"`
}

// loadState reads the state file, if there is one, into c.
func loadState(path string, c *chat) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var ids savedIDs
	line, err := r.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &ids)
	}
	for _, h := range []historian{c.hub, c.feed} {
		if err != nil {
			break
		}
		var sec []byte
		if sec, err = readSection(r); err == nil {
			err = h.LoadHistory(bytes.NewReader(sec))
		}
	}
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	c.lastWS, c.lastFeed = ids.LastWS, ids.LastFeed
	slog.Info("state loaded", "file", path, "last", ids.LastWS, "lastFeed", ids.LastFeed)
	return nil
}

func readSection(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(line[:len(line)-1])
	if err != nil || n < 0 || n > maxSection {
		return nil, fmt.Errorf("bad section length %q", line)
	}
	sec := make([]byte, n)
	_, err = io.ReadFull(r, sec)
	return sec, err
}

// saveState writes c's history to the state file, replacing it at once.
func saveState(path string, c *chat) (err error) {
	c.mu.Lock()
	ids := savedIDs{LastWS: c.lastWS, LastFeed: c.lastFeed}
	c.mu.Unlock()
	var buf bytes.Buffer
	line, _ := json.Marshal(ids) // cannot fail
	buf.Write(append(line, '\n'))
	for _, h := range []historian{c.hub, c.feed} {
		var sec bytes.Buffer
		if err := h.SaveHistory(&sec); err != nil {
			return err
		}
		buf.WriteString(strconv.Itoa(sec.Len()) + "\n")
		buf.Write(sec.Bytes())
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err = tmp.Write(buf.Bytes()); err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	slog.Info("state saved", "file", path, "last", ids.LastWS, "lastFeed", ids.LastFeed)
	return nil
}
