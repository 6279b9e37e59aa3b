package consensus

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	"github.com/cocoledger/coco/core/types"

	smartbft "github.com/hyperledger-labs/SmartBFT/pkg/consensus"
	bft "github.com/hyperledger-labs/SmartBFT/pkg/types"
)

// ErrNotMember refuses batches from a node outside the consensus set: a
// joining node still catching up, or a retired one.
var ErrNotMember = errors.New("this node is not in the consensus set")

// Membership is implemented by a Chain whose consensus set changes with
// the blocks it commits (governance trusts and retires nodes). Consensus
// asks after every commit.
type Membership interface {
	// Peers is the consensus set after the head block.
	Peers() []Peer
	// MembershipVersion counts the changes of the set up to the head: the
	// same on every replica at the same height (SmartBFT's verification
	// sequence, stamped on every proposal).
	MembershipVersion() uint64
}

// FormerMembers is implemented by a Chain that knows the nodes retired
// from the consensus set. They may still fetch heights and blocks: a node
// retired while it lagged learns of it only from the block that retired it,
// which the nodes it left would otherwise refuse to send it.
type FormerMembers interface {
	RetiredPeers() []FormerPeer
}

// FormerPeer is a retired node and the block that retired it, the last one
// it is sent.
type FormerPeer struct {
	Peer
	Until uint64
}

// members is one consensus set; replaced, never changed.
type members struct {
	keys    map[uint64]ed25519.PublicKey
	ids     []uint64 // sorted
	version uint64   // SmartBFT's verification sequence (Membership)
	retired map[uint64]FormerPeer
}

func newMembers(peers []Peer, version uint64) *members {
	m := &members{keys: map[uint64]ed25519.PublicKey{}, version: version}
	for _, p := range peers {
		m.keys[p.ID] = p.Key
		m.ids = append(m.ids, p.ID)
	}
	slices.Sort(m.ids)
	return m
}

// retiredOf is the retired nodes a chain knows, none if it does not.
func retiredOf(chain Chain) []FormerPeer {
	if fm, ok := chain.(FormerMembers); ok {
		return fm.RetiredPeers()
	}
	return nil
}

// withRetired adds the retired nodes allowed to sync.
func (m *members) withRetired(peers []FormerPeer) *members {
	m.retired = make(map[uint64]FormerPeer, len(peers))
	for _, p := range peers {
		m.retired[p.ID] = p
	}
	return m
}

func (m *members) has(id uint64) bool { return m.keys[id] != nil }

func (m *members) equal(o *members) bool {
	if !slices.Equal(m.ids, o.ids) {
		return false
	}
	for id, k := range m.keys {
		if !k.Equal(o.keys[id]) {
			return false
		}
	}
	return true
}

func (c *Consensus) members() *members { return c.set.Load() }

// refreshMembers reads the consensus set after a commit and reports whether
// it changed. Called with commitMu held.
func (c *Consensus) refreshMembers() bool {
	ms, ok := c.opts.Chain.(Membership)
	if !ok {
		return false
	}
	old := c.members()
	next := newMembers(ms.Peers(), ms.MembershipVersion())
	if next.equal(old) && next.version == old.version {
		return false
	}
	// Retiring a node changes the version, so the retired list is read
	// only then, not after every block.
	c.set.Store(next.withRetired(retiredOf(c.opts.Chain)))
	c.pendingReconfig.Store(true)
	switch {
	case !old.has(c.opts.Self) && next.has(c.opts.Self):
		c.log.Info("this node joined the consensus set", "nodes", next.ids)
	case old.has(c.opts.Self) && !next.has(c.opts.Self):
		c.retired.Store(true)
		c.log.Warn("this node was retired from the consensus set; it stops taking part", "nodes", next.ids)
	default:
		c.log.Info("consensus set changed", "from", old.ids, "to", next.ids)
	}
	return true
}

// reconfig is what SmartBFT is told after the set changed.
func (c *Consensus) reconfig() bft.Reconfig {
	return bft.Reconfig{InLatestDecision: true, CurrentNodes: c.members().ids, CurrentConfig: c.bftConfig()}
}

// replica returns the running SmartBFT instance, nil while this node is
// not (or no longer) in the consensus set.
func (c *Consensus) replica() *smartbft.Consensus {
	if !c.members().has(c.opts.Self) {
		return nil
	}
	c.bftMu.Lock()
	defer c.bftMu.Unlock()
	return c.bft
}

// IsMember reports whether this node takes part in ordering now.
func (c *Consensus) IsMember() bool { return c.members().has(c.opts.Self) && c.replica() != nil }

// RecoveryChain is implemented by a Chain that can tell who may sign a
// recovery block (types.Header.Recovery): the node the members voted for
// in it, with the consensus id it gets.
type RecoveryChain interface {
	RecoverySigner(b *types.Block) (Peer, error)
}

// recoverySigner checks a recovery block's one signature against the node
// its members' votes name.
func (c *Consensus) recoverySigner(b *types.Block) (Peer, error) {
	rc, ok := c.opts.Chain.(RecoveryChain)
	if !ok {
		return Peer{}, errors.New("this chain accepts no recovery block")
	}
	signer, err := rc.RecoverySigner(b)
	if err != nil {
		return Peer{}, err
	}
	if err := checkQuorum(map[uint64]ed25519.PublicKey{signer.ID: signer.Key}, 1, b); err != nil {
		return Peer{}, fmt.Errorf("recovery block not signed by the recovering node %d: %w", signer.ID, err)
	}
	return signer, nil
}
