package consensus

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	bft "github.com/hyperledger-labs/SmartBFT/pkg/types"
)

// Sync protocol: a node asks peers for their height and then for blocks,
// over NATS request/reply. Requests are signed envelopes; answers are not,
// because a decided block carries a quorum of signatures and is checked
// block by block before anything is committed.
const (
	kindHeight uint8 = 3
	kindBlocks uint8 = 4

	syncTimeout      = 2 * time.Second
	syncRounds       = 4 // rounds of asking heights and fetching, per sync
	syncMaxBlocks    = 64
	syncMaxReplySize = 4 << 20
)

// ErrSyncBlock marks a block from a peer that fails verification.
var ErrSyncBlock = errors.New("sync: invalid block from peer")

type blocksRequest struct {
	From uint64
	Max  uint64
}

// serveSync answers peers' height and block requests from the ledger; nil
// means no answer.
func (c *Consensus) serveSync(data []byte) []byte {
	env, err := bridge.Open(data, c.opts.Self, c.syncPeerKey)
	if err != nil {
		c.log.Warn("dropping sync request", "err", err)
		return nil
	}
	// A retired node sees the chain up to the block that retired it.
	head := c.opts.Chain.Head().Header.Number
	if m := c.members(); !m.has(env.From) {
		if env.Kind != kindHeight && env.Kind != kindBlocks {
			c.log.Warn("dropping sync request", "from", env.From, "kind", env.Kind, "err", "a retired node may only fetch heights and blocks")
			return nil
		}
		head = min(head, m.retired[env.From].Until)
	}
	switch env.Kind {
	case kindHeight:
		h, _ := rlp.EncodeToBytes(head)
		return h
	case kindBlocks:
		var req blocksRequest
		if err := rlp.DecodeBytes(env.Payload, &req); err != nil {
			c.log.Warn("dropping malformed sync request", "from", env.From, "err", err)
			return nil
		}
		var out [][]byte
		size := 0
		for n := req.From; n <= head && uint64(len(out)) < min(req.Max, syncMaxBlocks); n++ {
			b, err := c.opts.Chain.Block(n)
			if err != nil {
				break
			}
			enc := b.Encode()
			if size+len(enc) > syncMaxReplySize && len(out) > 0 {
				break
			}
			out = append(out, enc)
			size += len(enc)
		}
		reply, _ := rlp.EncodeToBytes(out)
		return reply
	case kindSnapshot:
		return c.serveSnapshot(env.From)
	case kindSnapshotChunk:
		return c.serveChunk(env.From, env.Payload)
	}
	return nil
}

// syncPeerKey is peerKey extended to retired nodes (see FormerMembers).
func (c *Consensus) syncPeerKey(id uint64) ed25519.PublicKey {
	m := c.members()
	if k := m.keys[id]; k != nil {
		return k
	}
	return m.retired[id].Key
}

func (c *Consensus) request(to uint64, kind uint8, payload []byte) ([]byte, error) {
	if c.opts.Transport == nil {
		return nil, ErrNoTransport
	}
	return c.opts.Transport.Request(to, bridge.Seal(c.opts.Key, c.opts.Self, to, kind, payload), syncTimeout)
}

// Sync implements bft.Synchronizer: it fetches the blocks this node is
// missing from its peers, verifies each (parent, quorum signatures, batches,
// history root, state roots), commits them, and answers with the latest
// decision it now holds. SmartBFT calls it after view changes and when the
// node falls behind.
func (c *Consensus) Sync() bft.SyncResponse {
	version := c.members().version
	c.syncFromPeers()
	head := c.opts.Chain.Head()
	resp := bft.SyncResponse{Latest: bft.Decision{Proposal: c.proposalOf(head), Signatures: signaturesOf(head)}}
	if c.pendingReconfig.Swap(false) || c.members().version != version {
		resp.Reconfig = bft.ReconfigSync{InReplicatedDecisions: true, CurrentNodes: c.members().ids, CurrentConfig: c.bftConfig()}
	}
	return resp
}

// catchUpWhenIdle fetches missing blocks when this node's head has not
// moved for a while but f+1 peers (so at least one honest) report a higher
// height. SmartBFT notices a lagging follower only through later traffic:
// on an idle network a node restarted one block behind would otherwise stay
// behind until the next transaction.
//
// A node not yet in the consensus set (trusted by governance but still
// catching up) follows the chain here continuously, and starts its replica
// once the blocks it commits make it a member.
func (c *Consensus) catchUpWhenIdle(stop <-chan struct{}) {
	const idle = 2 * time.Second
	ticker := time.NewTicker(idle / 4)
	defer ticker.Stop()
	last, since := c.opts.Chain.Head().Header.Number, time.Now()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		if c.retired.Load() {
			return
		}
		if !c.members().has(c.opts.Self) || c.replica() == nil {
			c.syncFromPeers()
			if c.members().has(c.opts.Self) && c.replica() == nil {
				c.pendingReconfig.Store(false)
				if err := c.startReplica(); err != nil {
					c.log.Error("cannot start consensus after joining", "err", err)
				}
			}
			continue
		}
		head := c.opts.Chain.Head().Header.Number
		if head != last {
			last, since = head, time.Now()
			continue
		}
		if time.Since(since) < idle {
			continue
		}
		ahead := 0
		for _, p := range c.peerHeights() {
			if p.height > head {
				ahead++
			}
		}
		if ahead >= (len(c.members().ids)-1)/3+1 {
			c.log.Info("behind peers while idle; catching up", "height", head, "peers_ahead", ahead)
			c.syncFromPeers()
			if c.pendingReconfig.Load() {
				// The blocks changed the consensus set: SmartBFT learns it
				// through its own Sync.
				if r := c.replica(); r != nil {
					r.Sync()
				}
			}
		}
		since = time.Now()
	}
}

type peerHeight struct{ id, height uint64 }

// peerHeights asks every other node for its height; peers that do not
// answer are left out.
func (c *Consensus) peerHeights() []peerHeight {
	if c.opts.Transport == nil {
		return nil
	}
	var heights []peerHeight
	ids := c.members().ids
	if !c.members().has(c.opts.Self) {
		for _, id := range c.opts.Sources {
			if !slices.Contains(ids, id) {
				ids = append(slices.Clone(ids), id)
			}
		}
	}
	for _, p := range askHeights(c.opts.Transport, c.opts.Key, c.opts.Self, ids) {
		heights = append(heights, peerHeight{p.ID, p.Height})
	}
	return heights
}

// askHeights asks every peer at once: one round trip, not one per peer, and
// a peer that is down costs the timeout once. Under load a lagging node
// syncs every few blocks; asking one peer after the other made each sync
// long enough for the others to move two blocks on, so it never rejoined.
func askHeights(t Transport, key ed25519.PrivateKey, self uint64, ids []uint64) []PeerHeight {
	answers := make([]*PeerHeight, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		if id == self {
			continue
		}
		wg.Go(func() {
			data, err := t.Request(id, bridge.Seal(key, self, id, kindHeight, nil), syncTimeout)
			if err != nil {
				return
			}
			var h uint64
			if rlp.DecodeBytes(data, &h) == nil {
				answers[i] = &PeerHeight{id, h}
			}
		})
	}
	wg.Wait()
	var heights []PeerHeight
	for _, a := range answers {
		if a != nil {
			heights = append(heights, *a)
		}
	}
	return heights
}

func (c *Consensus) syncFromPeers() {
	if c.opts.Transport == nil || (len(c.members().ids) == 1 && c.members().has(c.opts.Self)) {
		return
	}
	start := c.opts.Chain.Head().Header.Number
	// The others go on deciding blocks while this node fetches: ask again
	// until a round brings nothing new, or the node rejoins consensus two
	// blocks behind and has to sync again at once.
	for range syncRounds {
		before := c.opts.Chain.Head().Header.Number
		heights := c.peerHeights()
		slices.SortFunc(heights, func(a, b peerHeight) int { return int(b.height) - int(a.height) })
		for _, p := range heights {
			for c.opts.Chain.Head().Header.Number < p.height {
				n, err := c.fetchFrom(p.id, c.opts.Chain.Head().Header.Number+1)
				if err != nil {
					c.log.Warn("sync from peer failed", "peer", p.id, "err", err)
					break
				}
				if n == 0 {
					break
				}
			}
		}
		if c.opts.Chain.Head().Header.Number == before {
			break
		}
	}
	if head := c.opts.Chain.Head().Header.Number; head > start {
		c.log.Info("synced blocks from peers", "from", start+1, "to", head)
	}
}

// fetchFrom fetches, verifies and commits blocks from one peer.
func (c *Consensus) fetchFrom(peer, from uint64) (int, error) {
	req, _ := rlp.EncodeToBytes(&blocksRequest{From: from, Max: syncMaxBlocks})
	data, err := c.request(peer, kindBlocks, req)
	if err != nil {
		return 0, err
	}
	var encoded [][]byte
	if err := rlp.DecodeBytes(data, &encoded); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSyncBlock, err)
	}
	for i, enc := range encoded {
		b, err := types.DecodeBlock(enc)
		if err != nil {
			return i, fmt.Errorf("%w: %v", ErrSyncBlock, err)
		}
		if err := c.commitSynced(b); err != nil {
			return i, err
		}
	}
	return len(encoded), nil
}

// quorum is SmartBFT's commit quorum for n nodes: ceil((n+f+1)/2).
func quorum(n int) int {
	f := (n - 1) / 3
	return (n + f + 2) / 2
}

// commitSynced verifies a block obtained from a peer and commits it.
func (c *Consensus) commitSynced(b *types.Block) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	var recovery *Peer
	if b.Header.Recovery {
		signer, err := c.recoverySigner(b)
		if err != nil {
			return fmt.Errorf("%w: block %d: %w", ErrSyncBlock, b.Header.Number, err)
		}
		recovery = &signer
	} else {
		m := c.members()
		if err := checkQuorum(m.keys, len(m.ids), b); err != nil {
			return fmt.Errorf("%w: %w", ErrSyncBlock, err)
		}
	}
	p := bft.Proposal{Header: b.Header.Encode(), Payload: types.EncodeBatches(b.Batches), Metadata: b.Metadata}
	op, err := c.openWith(p, recovery)
	if err != nil {
		return fmt.Errorf("%w: block %d: %w", ErrSyncBlock, b.Header.Number, err)
	}
	if err := c.opts.Chain.Commit(b, op.batches, op.leaves); err != nil {
		return err
	}
	c.markOrdered(p.Digest(), op, b.Header.Number)
	c.synced.Add(1)
	syncedBlocks.Inc()
	// Decisions learned by sync never reach Deliver: drop their requests
	// from the pool, or they would be proposed and complained about again.
	for i := range op.sealed {
		c.forgetRequest(bft.RequestInfo{ClientID: op.sealed[i].ClientID(), ID: op.sealed[i].ID()})
	}
	version := c.members().version
	c.headVersion.Store(version + 1)
	if c.refreshMembers() {
		c.recordHeadVersion(b.Header.Number, version)
	}
	return nil
}

// checkQuorum requires a quorum of the n consensus nodes (keys in peers) to
// have signed the block's header.
func checkQuorum(peers map[uint64]ed25519.PublicKey, n int, b *types.Block) error {
	msg := types.SigningBytes(&b.Header)
	signers := map[uint64]bool{}
	for _, s := range b.Signatures {
		if pub := peers[s.Signer]; pub != nil && ed25519.Verify(pub, msg, s.Value) {
			signers[s.Signer] = true
		}
	}
	if len(signers) < quorum(n) {
		return fmt.Errorf("block %d has %d valid signatures, quorum is %d", b.Header.Number, len(signers), quorum(n))
	}
	return nil
}
