//go:build compatpending

package compat

import "testing"

// TestCompatPending runs the cases the library does not pass yet (issue
// 10), listed in pendingCases. Each fails on main with the message in its
// comment there.
//
//	go test -tags compatpending -run TestCompatPending -v ./...
func TestCompatPending(t *testing.T) {
	runCases(t, pendingCases())
}
