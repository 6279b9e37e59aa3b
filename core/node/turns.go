package node

import (
	"slices"
	"time"

	"github.com/cocoledger/coco/core/state"
)

// flushTurn is a member's memtable flush turn (state.DB.SetFlushTurn) in a
// consensus set: members are spread over the turns so that no more of them
// share one than the set tolerates being slow (f), which leaves a quorum
// outside every turn. A node outside the set, or alone in it, has none.
func flushTurn(members []uint64, self uint64) (turn, turns int) {
	ids := slices.Sorted(slices.Values(members))
	rank := slices.Index(ids, self)
	n := len(ids)
	if n < 2 || rank < 0 {
		return 0, 0
	}
	perTurn := max((n-1)/3, 1)
	turns = (n + perTurn - 1) / perTurn
	return rank % turns, turns
}

// applyFlushTurn hands the database this node's flush turn whenever the
// consensus set (Peers, as consensus sees it) has changed.
func (n *Node) applyFlushTurn() {
	v := n.gov.MembershipVersion()
	if old := n.turnVersion.Swap(&v); old != nil && *old == v {
		return
	}
	var ids []uint64
	for _, p := range n.Peers() {
		ids = append(ids, p.ID)
	}
	turn, turns := flushTurn(ids, n.self)
	n.db.SetFlushTurn(turn, turns)
	if turns > 0 {
		n.log.Info("memtable flushes take turns with the other nodes", "turn", turn, "turns", turns,
			"every", time.Duration(turns)*state.TurnLength)
	}
}
