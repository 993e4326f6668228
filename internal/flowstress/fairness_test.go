package flowstress

import (
	"math"
	"testing"
)

func TestJain(t *testing.T) {
	tests := []struct {
		name   string
		counts map[string]int
		want   float64
	}{
		{"equal", map[string]int{"a": 5, "b": 5, "c": 5}, 1},
		{"one has all", map[string]int{"a": 9, "b": 0, "c": 0}, 1.0 / 3},
		{"two to one", map[string]int{"a": 2, "b": 1}, 9.0 / 10},
		{"none", map[string]int{"a": 0}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := jain(tc.counts); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("jain(%v) = %v, want %v", tc.counts, got, tc.want)
			}
		})
	}
}
