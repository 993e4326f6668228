//go:build race

package flowstress

// Race says whether the race detector is on: runs under it are smaller.
const Race = true
