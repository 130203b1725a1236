//go:build race

package protocol

// raceEnabled: the race detector makes sync.Pool drop items on purpose.
const raceEnabled = true
