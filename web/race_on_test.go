//go:build race

package web_test

// raceEnabled: the race detector is on, and allocates on its own account.
const raceEnabled = true
