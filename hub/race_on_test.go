//go:build race

package hub

// raceEnabled: the race detector's instrumentation allocates a little on
// the subscribe path, so heap bounds allow for it.
const raceEnabled = true
