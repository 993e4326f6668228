//go:build race

package flowstress

const raceEnabled = true
