//go:build race

package sse

// raceEnabled says the race detector is on: it doubles the stacks' guard,
// so goroutine stack sizes are not those of a server.
const raceEnabled = true
