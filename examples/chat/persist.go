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
	"time"
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

// MaxStateBytes bounds the state file. A save that would write more
// leaves the history out (the next start reports a gap to the pages that
// resume), and a start that finds a larger file ignores it.
const MaxStateBytes = 64 << 20

type savedIDs struct {
	LastWS   string `json:"lastWs"`
	LastFeed string `json:"lastFeed"`
	// Nicks maps each nickname held to the inbox topic of its session, so
	// that after a restart a nickname still belongs to the session that
	// held it, and nobody else gets the direct messages sent to it. At most
	// MaxSessions entries.
	Nicks map[string]string `json:"nicks,omitempty"`
	// SessionKey is the key that signs session tokens, so that the tokens
	// the pages hold still work after a restart. The file is made readable
	// by its owner only.
	SessionKey []byte `json:"sessionKey,omitempty"`
}

// loadState reads the state file, if there is one, into c. It never fails
// the start: a file that cannot be read, is over MaxStateBytes or is not a
// state file is set aside (renamed with ".bad" added) and the chat starts
// without history, so that pages resuming get a gap notice and carry on.
func loadState(path string, c *chat) {
	err := readState(path, c)
	switch {
	case err == nil:
		slog.Info("state loaded", "file", path, "last", c.lastWS, "lastFeed", c.lastFeed)
	case errors.Is(err, fs.ErrNotExist):
	default:
		// The hub or the feed may hold part of it: start both afresh.
		c.hub = newHub(c)
		c.feed = newFeed(c)
		c.lastWS, c.lastFeed = "", ""
		bad := path + ".bad"
		if rerr := os.Rename(path, bad); rerr != nil {
			bad = ""
		}
		slog.Warn("state not loaded: starting without history; resuming pages will see a gap",
			"file", path, "err", err, "setAside", bad)
	}
}

// readState loads the state file at path into c.
func readState(path string, c *chat) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return err
	} else if st.Size() > MaxStateBytes {
		return fmt.Errorf("state %s: %d bytes, over the %d bytes of MaxStateBytes", path, st.Size(), MaxStateBytes)
	}
	r := bufio.NewReader(io.LimitReader(f, MaxStateBytes))
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
		if sec, err = readSection(r); err == nil && len(sec) > 0 {
			err = h.LoadHistory(bytes.NewReader(sec))
		}
	}
	if err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	c.lastWS, c.lastFeed = ids.LastWS, ids.LastFeed
	if len(ids.SessionKey) != sessionKeyBytes {
		// The tokens of these sessions cannot be checked: nobody can use
		// them, so they hold no nickname.
		ids.Nicks = nil
	} else {
		c.key = ids.SessionKey
	}
	now := time.Now()
	for nick, inbox := range ids.Nicks {
		if len(c.sessions) >= MaxSessions {
			break
		}
		if !validNick(nick) || !validInbox(inbox) || c.sessions[inbox] != nil {
			continue
		}
		s := &session{inbox: inbox, nick: nick, lastUsed: now}
		c.sessions[inbox] = s
		c.nicks[nick] = s
	}
	return nil
}

func readSection(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(line[:len(line)-1])
	if err != nil || n < 0 || n > MaxStateBytes {
		return nil, fmt.Errorf("bad section length %q", line)
	}
	sec := make([]byte, n)
	_, err = io.ReadFull(r, sec)
	return sec, err
}

// saveState writes c's history to the state file, replacing it at once.
func saveState(path string, c *chat) (err error) {
	c.mu.Lock()
	ids := savedIDs{LastWS: c.lastWS, LastFeed: c.lastFeed, Nicks: make(map[string]string, len(c.nicks)), SessionKey: c.key}
	for nick, s := range c.nicks {
		ids.Nicks[nick] = s.inbox
	}
	c.mu.Unlock()
	var buf bytes.Buffer
	line, _ := json.Marshal(ids) // cannot fail
	buf.Write(append(line, '\n'))
	secs := make([]bytes.Buffer, 2)
	for i, h := range []historian{c.hub, c.feed} {
		if err := h.SaveHistory(&secs[i]); err != nil {
			return err
		}
	}
	if size := buf.Len() + secs[0].Len() + secs[1].Len() + 32; size > MaxStateBytes {
		// Too big to load back: keep the IDs only, so that the next start
		// tells resuming pages about the gap.
		slog.Warn("history too large to save: the next start will have none", "bytes", size, "max", MaxStateBytes)
		secs[0].Reset()
		secs[1].Reset()
	}
	for _, sec := range secs {
		buf.WriteString(strconv.Itoa(sec.Len()) + "\n")
		buf.Write(sec.Bytes())
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
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

// defaultState returns the default -state: chat.state in a folder of this
// user's cache (os.UserCacheDir), or, when the user has none, in the
// temporary folder under a name of this user's, so that users of one
// machine never share a state file.
func defaultState() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "realtime", "chat.state")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("realtime-%d-chat.state", os.Getuid()))
}
