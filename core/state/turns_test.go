package state

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestIsTurn(t *testing.T) {
	base := time.Unix(0, 0).Add(1000 * TurnLength) // slot 1000: 1000 % 4 = 0
	for i := range 8 {
		start := base.Add(time.Duration(i) * TurnLength)
		for turn := range 4 {
			if got, want := isTurn(start, flushTurn{turn: turn, turns: 4}), i%4 == turn; got != want {
				t.Errorf("slot %d, turn %d of 4: isTurn = %v, want %v", 1000+i, turn, got, want)
			}
		}
	}
	if isTurn(base, flushTurn{}) {
		t.Error("turns off: isTurn = true")
	}
	if got := nextSlot(base.Add(time.Millisecond)); !got.Equal(base.Add(TurnLength)) {
		t.Errorf("nextSlot = %v, want %v", got, base.Add(TurnLength))
	}
	if got := nextSlot(base); !got.Equal(base.Add(TurnLength)) {
		t.Errorf("nextSlot at a slot start = %v, want the next one %v", got, base.Add(TurnLength))
	}
}

// withShortTurns makes slots and the minimum flush small for one test.
func withShortTurns(t *testing.T) {
	length, min := TurnLength, MinTurnFlush
	TurnLength, MinTurnFlush = 20*time.Millisecond, 64<<10
	t.Cleanup(func() { TurnLength, MinTurnFlush = length, min })
}

func flushCount(t *testing.T, db *DB) int64 {
	t.Helper()
	m, err := db.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m.Flush.Count
}

func fill(t *testing.T, db *DB, n int) {
	t.Helper()
	s := db.Namespace("turns")
	for i := range n {
		mustPut(t, s, fmt.Sprintf("k%06d", i), string(bytes.Repeat([]byte{byte(i)}, 1000)))
	}
}

func TestFlushesInItsTurn(t *testing.T) {
	withShortTurns(t)
	db := newTestDB(t)
	fill(t, db, 200) // ~200 KiB waiting, well below a full memtable
	before := flushCount(t, db)
	db.SetFlushTurn(1, 2)
	deadline := time.Now().Add(10 * time.Second)
	for flushCount(t, db) == before {
		if time.Now().After(deadline) {
			t.Fatal("no flush in 10 s of turns")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m, _ := db.Metrics(); m.WAL.Size >= MinTurnFlush {
		t.Errorf("after the turn's flush %d bytes still wait", m.WAL.Size)
	}
	// The flushed values read back.
	if got := mustGet(t, db.Namespace("turns"), "k000199"); len(got) != 1000 {
		t.Errorf("value after flush: %d bytes", len(got))
	}
}

func TestNoFlushWithoutTurnsOrBelowMinimum(t *testing.T) {
	withShortTurns(t)
	for _, tc := range []struct {
		name  string
		puts  int
		turns int
	}{
		{"turns off", 200, 0},
		{"below the minimum", 20, 1},
		{"invalid turn", 200, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := newTestDB(t)
			fill(t, db, tc.puts)
			before := flushCount(t, db)
			db.SetFlushTurn(0, tc.turns)
			time.Sleep(10 * TurnLength)
			if got := flushCount(t, db); got != before {
				t.Errorf("%d flushes, want none", got-before)
			}
		})
	}
}

func TestCloseStopsTurns(t *testing.T) {
	withShortTurns(t)
	db := openTest(t, t.TempDir(), testKey(7))
	db.SetFlushTurn(0, 1)
	fill(t, db, 200)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.turnsDone:
	default:
		t.Fatal("Close returned while takeTurns still runs")
	}
}
