package gov

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cocoledger/coco/core/types"
)

// KindRecoverNetwork is a member's vote to make a recovering node the
// consensus set of a network whose nodes were all lost. It travels in the
// recovery block that node writes; once the recovery threshold of active
// members agree, every trusted node is retired, the recovering node is
// trusted alone, and the network is closed until the members open it.
const KindRecoverNetwork = "recover_network"

// recoveryVotes: recovering node id → members that voted for it.
type recoveryVotes map[string]map[string]bool

func (g *Gov) admitRecovery(r *Request) error {
	if !g.inRecovery {
		return fmt.Errorf("%w: a recovery vote counts only in the recovery block a recovering node writes (coco gov recovery-share)", ErrRefused)
	}
	if n := g.t.nodes[r.Node.ID]; n != nil && n.Status != NodePending {
		return fmt.Errorf("%w: node %s is %s", ErrRefused, short(n.ID), n.Status)
	}
	_, err := g.checkNode("recovering node", r.Node)
	return err
}

// voteRecovery records a member's recovery vote and, at the threshold,
// hands the network to the recovering node.
func (g *Gov) voteRecovery(number uint64, r *Request) {
	votes := g.t.recovery[r.Node.ID]
	if votes == nil {
		votes = map[string]bool{}
		g.t.recovery[r.Node.ID] = votes
	}
	votes[r.Member] = true
	if g.recoveryVotes(votes) < g.constitution.Source().RecoveryThreshold {
		return
	}
	for _, n := range g.t.nodes {
		if n.Status == NodeTrusted {
			n.Status, n.Retired = NodeRetired, number
			g.t.dirty[keyNode+n.ID] = true
		}
	}
	m, _ := g.checkNode("recovering node", r.Node) // admitted above
	j := r.Node
	g.t.nodes[j.ID] = &Node{ID: j.ID, ConsensusID: g.t.nextConsensusID(), Status: NodeTrusted, Measurement: m,
		PublicKey: j.PublicKey, EncryptionKey: j.EncryptionKey, Joined: number}
	g.t.dirty[keyNode+j.ID] = true
	g.t.params.Open = false
	g.t.dirty[keyParams] = true
	clear(g.t.recovery)
	g.log.Warn("network recovered: the recovering node is the consensus set; the network is closed until the members open it",
		"node", short(j.ID), "consensus_id", g.t.nodes[j.ID].ConsensusID, "block", number)
}

func (g *Gov) recoveryVotes(votes map[string]bool) int {
	n := 0
	for id := range votes {
		if m := g.t.members[id]; m != nil && m.Status == MemberActive {
			n++
		}
	}
	return n
}

// RecoverySigner says who may sign a recovery block with these governance
// requests: the node that at least the recovery threshold of active
// members voted for, with the consensus id it will get. A block that is
// not a valid recovery block returns an error. Nothing is changed.
func (g *Gov) RecoverySigner(txs []types.Tx) (Node, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inRecovery = true
	defer func() { g.inRecovery = false }()
	votes := recoveryVotes{}
	joins := map[string]*NodeJoin{}
	for _, tx := range txs {
		s, r, err := DecodeSigned(tx.Payload)
		if err != nil || r.Kind != KindRecoverNetwork {
			continue
		}
		if g.authenticate(s, r) != nil || g.admitRecovery(r) != nil {
			continue
		}
		if votes[r.Node.ID] == nil {
			votes[r.Node.ID] = map[string]bool{}
		}
		votes[r.Node.ID][r.Member] = true
		joins[r.Node.ID] = r.Node
	}
	for _, id := range slices.Sorted(maps.Keys(votes)) {
		if g.recoveryVotes(votes[id]) >= g.constitution.Source().RecoveryThreshold {
			j := joins[id]
			return Node{ID: id, ConsensusID: g.t.nextConsensusID(), PublicKey: j.PublicKey, EncryptionKey: j.EncryptionKey}, nil
		}
	}
	return Node{}, fmt.Errorf("not a recovery block: fewer than %d active members' recovery votes for one node", g.constitution.Source().RecoveryThreshold)
}
