package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/realtime-go/realtime/sse"
)

// TestDefaultState: the default -state is a file of this user's cache
// folder, which the first save makes; with no cache folder, a file of the
// temporary folder named after the user: never one path for every user
// of the machine.
func TestDefaultState(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "")
	path := defaultState()
	if !strings.HasPrefix(path, home+string(filepath.Separator)) {
		t.Errorf("default state %s, want a file under the user's cache folder in %s", path, home)
	}
	m := newMarket()
	b := sse.NewBroker(brokerOptions(m, nil))
	if err := saveState(path, m, b); err != nil {
		t.Fatalf("saving to the default state in a folder not made yet: %v", err)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil {
		t.Error(err)
	} else if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("state folder %s has mode %v; want one of the user's alone", filepath.Dir(path), st.Mode())
	}

	t.Setenv("HOME", "")
	path = defaultState()
	if !strings.Contains(filepath.Base(path), strconv.Itoa(os.Getuid())) {
		t.Errorf("with no cache folder, default state %s, want a name of this user's", path)
	}
}
