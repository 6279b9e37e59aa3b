package state

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Flush turns. The replicas of a network write the same data at the same
// rate, so left alone their memtables fill, and Pebble flushes them, within
// the same second. A flush costs a node CPU and disk for up to a second or
// two; when every node flushes at once, the whole quorum slows down together
// and commit latency jumps (docs/decisions/0011-flush-turns.md). Taking
// turns keeps the flushes apart: wall-clock time is cut into slots of
// TurnLength, numbered from the Unix epoch, and a node flushes its memtable
// at the start of each slot whose number modulo turns is its turn, if at
// least MinTurnFlush bytes are waiting. Between turns the memtable
// (memTableSize) has room for several slots' writes; above that write rate
// Pebble flushes on its own, as it does when turns are off.
var (
	TurnLength   = 2 * time.Second // a variable for tests
	MinTurnFlush = uint64(4 << 20) // a variable for tests
)

var turnFlushes = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "coco", Name: "state_turn_flushes_total",
	Help: "Memtable flushes started in this node's flush turn (the rest are Pebble's own, when a memtable fills).",
})

func init() { prometheus.MustRegister(turnFlushes) }

type flushTurn struct{ turn, turns int }

// SetFlushTurn makes the database flush at the start of its turn out of
// turns (see TurnLength). turns 0 turns this off: Pebble flushes when a
// memtable is full. Safe to call at any time, from any goroutine.
func (db *DB) SetFlushTurn(turn, turns int) {
	if turns < 0 || turn < 0 || (turns > 0 && turn >= turns) {
		turn, turns = 0, 0
	}
	db.turn.Store(&flushTurn{turn: turn, turns: turns})
}

// FlushTurn is the turn last set with SetFlushTurn (0, 0: none).
func (db *DB) FlushTurn() (turn, turns int) {
	if t := db.turn.Load(); t != nil {
		return t.turn, t.turns
	}
	return 0, 0
}

// nextSlot is the start of the first slot after now.
func nextSlot(now time.Time) time.Time {
	return now.Truncate(TurnLength).Add(TurnLength)
}

// isTurn reports whether the slot starting at start is turn's.
func isTurn(start time.Time, t flushTurn) bool {
	if t.turns == 0 {
		return false
	}
	slot := start.UnixNano() / int64(TurnLength)
	return int(slot%int64(t.turns)) == t.turn
}

// takeTurns wakes at the start of every slot and flushes in the node's own
// slots. It returns when the database closes.
func (db *DB) takeTurns() {
	defer close(db.turnsDone)
	timer := time.NewTimer(time.Until(nextSlot(time.Now())))
	defer timer.Stop()
	for {
		select {
		case <-db.closing:
			return
		case now := <-timer.C:
			start := now.Truncate(TurnLength)
			timer.Reset(time.Until(nextSlot(now)))
			if t := db.turn.Load(); t != nil && isTurn(start, *t) {
				db.flushInTurn()
			}
		}
	}
}

func (db *DB) flushInTurn() {
	// The live WAL holds what the memtables hold: the bytes a flush writes.
	waiting := db.pdb.Metrics().WAL.Size
	if waiting < MinTurnFlush {
		return
	}
	if _, err := db.pdb.AsyncFlush(); err != nil {
		db.log.Warn("flush in turn failed", "err", err)
		return
	}
	turnFlushes.Inc()
	db.log.Debug("flushing memtable in this node's turn", "bytes", waiting)
}
