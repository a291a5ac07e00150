//go:build !race

package reliability

// raceEnabled scales the short tests down: the race detector makes every
// connection several times more expensive.
const raceEnabled = false
