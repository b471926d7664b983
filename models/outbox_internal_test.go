package models

import (
	"slices"
	"testing"
)

// TestPow2Runs: a batch of any size is written with the prepared
// statements of powers of two, largest first, none above the chunk.
func TestPow2Runs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n, max int
		want   []int
	}{
		{0, 64, nil}, {1, 64, []int{1}}, {64, 64, []int{64}}, {100, 64, []int{64, 32, 4}},
		{127, 64, []int{64, 32, 16, 8, 4, 2, 1}}, {300, 256, []int{256, 32, 8, 4}}, {129, 64, []int{64, 64, 1}},
	} {
		got := pow2Runs(tc.n, tc.max)
		if !slices.Equal(got, tc.want) {
			t.Errorf("pow2Runs(%d, %d) = %v, want %v", tc.n, tc.max, got, tc.want)
		}
		sum := 0
		for _, r := range got {
			sum += r
			if qInsertDeliveries[r] == "" || (r <= outboxChunk && qInsertEvents[r] == "") {
				t.Errorf("no statement for a run of %d", r)
			}
		}
		if sum != tc.n {
			t.Errorf("pow2Runs(%d, %d) sums to %d", tc.n, tc.max, sum)
		}
	}
}
