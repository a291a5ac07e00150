package browsertest

import (
	"fmt"
	"strconv"
	"strings"
)

// parseID splits an event ID of the form "epoch-seq".
func parseID(id string) (epoch string, seq uint64, err error) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, fmt.Errorf("malformed id %q", id)
	}
	seq, err = strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return "", 0, fmt.Errorf("malformed id %q", id)
	}
	return id[:i], seq, nil
}

// checkRun reports an error unless ids are all of one epoch and their
// sequence numbers go up by exactly one from each to the next: every event
// shown once, in order, none missing.
func checkRun(ids []string) error {
	if len(ids) == 0 {
		return fmt.Errorf("no ids")
	}
	epoch, prev, err := parseID(ids[0])
	if err != nil {
		return err
	}
	for i, id := range ids[1:] {
		e, seq, err := parseID(id)
		if err != nil {
			return err
		}
		if e != epoch {
			return fmt.Errorf("id %d: %q is of epoch %q, want %q", i+1, id, e, epoch)
		}
		if seq != prev+1 {
			return fmt.Errorf("id %d: %q follows %d: want %d (missing, duplicate or out of order)", i+1, id, prev, prev+1)
		}
		prev = seq
	}
	return nil
}
