package node

import "testing"

func TestFlushTurn(t *testing.T) {
	ids := func(n int) []uint64 {
		var s []uint64
		for i := range n {
			s = append(s, uint64(10-i)) // unsorted on purpose
		}
		return s
	}
	for _, tc := range []struct {
		members   int
		wantTurns int
		maxShared int // f of the set, at least 1
	}{
		{1, 0, 0}, {2, 2, 1}, {3, 3, 1}, {4, 4, 1}, {5, 5, 1}, {6, 6, 1},
		{7, 4, 2}, {10, 4, 3}, {13, 4, 4}, {16, 4, 5},
	} {
		shared := map[int]int{}
		for _, self := range ids(tc.members) {
			turn, turns := flushTurn(ids(tc.members), self)
			if turns != tc.wantTurns {
				t.Fatalf("%d members: %d turns, want %d", tc.members, turns, tc.wantTurns)
			}
			if turns > 0 && (turn < 0 || turn >= turns) {
				t.Fatalf("%d members: turn %d of %d", tc.members, turn, turns)
			}
			shared[turn]++
		}
		for turn, k := range shared {
			if tc.wantTurns > 0 && k > tc.maxShared {
				t.Errorf("%d members: %d share turn %d, more than f = %d", tc.members, k, turn, tc.maxShared)
			}
		}
	}
	if turn, turns := flushTurn([]uint64{1, 2, 3, 4}, 9); turns != 0 || turn != 0 {
		t.Errorf("non-member: turn %d of %d, want none", turn, turns)
	}
}
