package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/realtime-go/realtime/sse"
)

// The state file holds one line of JSON with the prices, then the Broker's
// history as written by its SaveHistory method.

// savedPrices is the first line of the state file.
type savedPrices struct {
	Stocks []stock `json:"stocks"`
	LastID string  `json:"lastId"`
}

// loadState reads the state file, if there is one, into m and b.
func loadState(path string, m *market, b *sse.Broker) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	var p savedPrices
	if err := json.Unmarshal(line, &p); err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	if err := b.LoadHistory(r); err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	m.restore(p.Stocks)
	m.mu.Lock()
	m.last = p.LastID
	m.mu.Unlock()
	slog.Info("state loaded", "file", path, "last", p.LastID)
	return nil
}

// saveState writes m and b to the state file, replacing it at once.
func saveState(path string, m *market, b *sse.Broker) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	p := savedPrices{Stocks: m.snapshot(), LastID: m.lastID()}
	line, _ := json.Marshal(p) // cannot fail
	w := bufio.NewWriter(tmp)
	w.Write(append(line, '\n'))
	if err := b.SaveHistory(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	slog.Info("state saved", "file", path, "last", p.LastID)
	return nil
}

// defaultState returns the default -state: ticker.state in a folder of this
// user's cache (os.UserCacheDir), or, when the user has none, in the
// temporary folder under a name of this user's, so that users of one
// machine never share a state file.
func defaultState() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "realtime", "ticker.state")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("realtime-%d-ticker.state", os.Getuid()))
}
