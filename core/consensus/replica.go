package consensus

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/batch"
	"github.com/cocoledger/coco/core/types"
	smartbft "github.com/hyperledger-labs/SmartBFT/pkg/consensus"
	bft "github.com/hyperledger-labs/SmartBFT/pkg/types"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"
)

// Envelope kinds on the consensus subject.
const (
	kindConsensus uint8 = 1
	kindRequest   uint8 = 2
)

// AssembleProposal builds the next block from the pool's requests: it drops
// batches already ordered (SmartBFT forgets old requests), opens the rest to
// compute the transactions' history leaves, and commits to all of it in the
// header.
func (c *Consensus) AssembleProposal(metadata []byte, requests [][]byte) bft.Proposal {
	head := c.opts.Chain.Head()
	var (
		sealed  []types.SealedBatch
		batches []*types.Batch
		leaves  []types.Hash
		inBlock = map[string]bool{}
	)
	for _, req := range requests {
		sb, err := types.DecodeSealedBatch(req)
		if err != nil {
			c.log.Warn("dropping undecodable request", "err", err)
			continue
		}
		id := requestID(sb.Origin, sb.Seq)
		if c.wasOrdered(id) || inBlock[id] {
			// SmartBFT still holds it (learned by sync, or forgotten after
			// a restart): drop it so it is not offered again.
			c.forgetRequest(bft.RequestInfo{ClientID: sb.ClientID(), ID: sb.ID()})
			continue
		}
		b, err := c.openBatch(sb)
		if err != nil {
			c.log.Warn("dropping batch", "origin", sb.Origin, "seq", sb.Seq, "err", err)
			continue
		}
		inBlock[id] = true
		sealed = append(sealed, *sb)
		batches = append(batches, b)
		for i := range b.Txs {
			leaves = append(leaves, b.Txs[i].Hash())
		}
	}
	size, root, err := c.opts.Chain.HistoryAfter(leaves)
	if err != nil {
		// Only a storage failure gets here; SmartBFT has no error path for
		// assembly, and proposing a block we cannot verify would stall.
		c.log.Error("assemble: history tree", "err", err)
		panic(fmt.Sprintf("assemble proposal: %v", err))
	}
	now := uint64(c.opts.Clock().UnixMilli())
	if now <= head.Header.TimeMs {
		now = head.Header.TimeMs + 1
	}
	h := types.Header{
		Number:         head.Header.Number + 1,
		PrevHash:       head.Header.Hash(),
		TimeMs:         now,
		BatchesHash:    types.Sum(types.EncodeBatches(sealed)),
		HistorySize:    size,
		HistoryRoot:    root,
		PrevStateRoots: c.opts.Chain.StateRoots(),
	}
	p := bft.Proposal{Header: h.Encode(), Payload: types.EncodeBatches(sealed), Metadata: metadata, VerificationSequence: int64(c.members().version)}
	c.remember(p.Digest(), &openedProposal{header: &h, sealed: sealed, batches: batches, leaves: leaves})
	return p
}

func (c *Consensus) remember(digest string, op *openedProposal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.opened) > 16 { // only in-flight proposals matter
		clear(c.opened)
	}
	c.opened[digest] = op
}

// forgetRequest removes a request from SmartBFT's pool, asynchronously: it
// is called from SmartBFT's own goroutines.
func (c *Consensus) forgetRequest(info bft.RequestInfo) {
	r := c.replica()
	if r == nil || r.Pool == nil {
		return
	}
	pool := r.Pool
	go func() { _ = pool.RemoveRequest(info) }()
}

// markOrdered records a committed block's batches so they are never
// ordered again, forgetting those older than seenWindow blocks.
func (c *Consensus) markOrdered(digest string, op *openedProposal, number uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.opened, digest)
	for i := range op.sealed {
		id := requestID(op.sealed[i].Origin, op.sealed[i].Seq)
		c.seen[id] = number
		delete(c.unordered, id)
		delete(c.verified, verifiedKey(&op.sealed[i]))
	}
	if len(c.seen) > seenWindow*int(c.cfg.BatchesPerBlock) {
		for id, n := range c.seen {
			if n+seenWindow < number {
				delete(c.seen, id)
			}
		}
	}
}

func (c *Consensus) wasOrdered(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[id]
	return ok
}

// open verifies a proposal against our head and returns its contents.
func (c *Consensus) open(p bft.Proposal) (*openedProposal, error) { return c.openWith(p, nil) }

// openWith is open for a recovery block, whose one batch comes from the
// recovering node (recovery, not yet in the set); nil for any other block.
func (c *Consensus) openWith(p bft.Proposal, recovery *Peer) (*openedProposal, error) {
	digest := p.Digest()
	c.mu.Lock()
	op := c.opened[digest]
	c.mu.Unlock()
	if op != nil {
		return op, nil
	}
	h, err := types.DecodeHeader(p.Header)
	if err != nil {
		return nil, err
	}
	head := c.opts.Chain.Head()
	if h.Number != head.Header.Number+1 {
		return nil, fmt.Errorf("%w: %d, head is %d", ErrWrongHeight, h.Number, head.Header.Number)
	}
	if h.PrevHash != head.Header.Hash() {
		return nil, ErrWrongParent
	}
	if h.TimeMs <= head.Header.TimeMs {
		return nil, ErrTimeSkew
	}
	if types.Sum(p.Payload) != h.BatchesHash {
		return nil, fmt.Errorf("%w: batches hash", ErrBadPayload)
	}
	if h.Recovery != (recovery != nil) {
		return nil, fmt.Errorf("%w: recovery blocks come only from a recovering node, never from consensus", ErrBadPayload)
	}
	sealed, err := types.DecodeBatches(p.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	op = &openedProposal{header: h, sealed: sealed}
	inBlock := map[string]bool{}
	for i := range sealed {
		id := requestID(sealed[i].Origin, sealed[i].Seq)
		if c.wasOrdered(id) || inBlock[id] {
			return nil, fmt.Errorf("%w: %s", ErrDuplicate, id)
		}
		inBlock[id] = true
		var b *types.Batch
		if recovery != nil && sealed[i].Origin == recovery.ID {
			if err := batch.VerifyOrigin(&sealed[i], recovery.Key); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
			}
			b, err = c.opts.Keys.Open(&sealed[i])
		} else {
			b, err = c.openBatch(&sealed[i])
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
		}
		op.batches = append(op.batches, b)
		for j := range b.Txs {
			op.leaves = append(op.leaves, b.Txs[j].Hash())
		}
	}
	size, root, err := c.opts.Chain.HistoryAfter(op.leaves)
	if err != nil {
		return nil, err
	}
	if size != h.HistorySize || root != h.HistoryRoot {
		return nil, ErrBadHistory
	}
	if !rootsEqual(h.PrevStateRoots, c.opts.Chain.StateRoots()) {
		return nil, ErrStateDiverged
	}
	c.remember(digest, op)
	return op, nil
}

func rootsEqual(a, b []types.Root) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// VerifyProposal implements bft.Verifier.
func (c *Consensus) VerifyProposal(p bft.Proposal) ([]bft.RequestInfo, error) {
	op, err := c.open(p)
	if err != nil {
		return nil, err
	}
	return infos(op.sealed), nil
}

func infos(sealed []types.SealedBatch) []bft.RequestInfo {
	out := make([]bft.RequestInfo, len(sealed))
	for i := range sealed {
		out[i] = bft.RequestInfo{ClientID: sealed[i].ClientID(), ID: sealed[i].ID()}
	}
	return out
}

// VerifyRequest implements bft.Verifier: a forwarded batch must be sealed
// with a ledger secret we hold, by a node of the consensus set.
func (c *Consensus) VerifyRequest(val []byte) (bft.RequestInfo, error) {
	sb, err := types.DecodeSealedBatch(val)
	if err != nil {
		return bft.RequestInfo{}, err
	}
	if err := c.checkOrigin(sb); err != nil {
		return bft.RequestInfo{}, err
	}
	b, err := c.opts.Keys.Open(sb)
	if err != nil {
		return bft.RequestInfo{}, err
	}
	c.keepVerified(sb, b)
	return bft.RequestInfo{ClientID: sb.ClientID(), ID: sb.ID()}, nil
}

// maxVerified bounds the batches kept opened between VerifyRequest and the
// proposal that orders them. Batches that are never ordered (dropped from
// the pool) are forgotten when it is reached, and verified again if they
// come back.
const maxVerified = 1024

// verifiedKey names one signed batch: an origin that signs two batches
// under one sequence number gets two keys.
func verifiedKey(sb *types.SealedBatch) string {
	return requestID(sb.Origin, sb.Seq) + "/" + string(sb.Sig)
}

// keepVerified remembers a batch VerifyRequest checked and opened, so that
// proposing it (the leader) or voting on the proposal that carries it (its
// origin) does not verify and decrypt it a second time.
func (c *Consensus) keepVerified(sb *types.SealedBatch, b *types.Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.verified) >= maxVerified {
		clear(c.verified)
	}
	c.verified[verifiedKey(sb)] = b
}

// openBatch returns a batch's contents after checking it comes from a
// current member that signed it: from what VerifyRequest kept, or by
// verifying and opening it now.
func (c *Consensus) openBatch(sb *types.SealedBatch) (*types.Batch, error) {
	key := verifiedKey(sb)
	c.mu.Lock()
	b := c.verified[key]
	delete(c.verified, key)
	c.mu.Unlock()
	if b != nil {
		// The signature was checked when it was kept; membership may have
		// changed since.
		if c.members().keys[sb.Origin] == nil {
			return nil, fmt.Errorf("%w: batch from unknown origin %d", batch.ErrBadOrigin, sb.Origin)
		}
		return b, nil
	}
	if err := c.checkOrigin(sb); err != nil {
		return nil, err
	}
	return c.opts.Keys.Open(sb)
}

// peerKey is the public key of consensus node id, nil if unknown.
func (c *Consensus) peerKey(id uint64) ed25519.PublicKey { return c.members().keys[id] }

// checkOrigin requires a batch to be signed by the consensus node it names,
// so no node can spend another's sequence numbers.
func (c *Consensus) checkOrigin(sb *types.SealedBatch) error {
	pub := c.members().keys[sb.Origin]
	if pub == nil {
		return fmt.Errorf("%w: batch from unknown origin %d", batch.ErrBadOrigin, sb.Origin)
	}
	return batch.VerifyOrigin(sb, pub)
}

// VerifyConsenterSig implements bft.Verifier: the signature must be the
// signer's ed25519 signature over the proposal header's signing bytes.
func (c *Consensus) VerifyConsenterSig(sig bft.Signature, p bft.Proposal) ([]byte, error) {
	h, err := types.DecodeHeader(p.Header)
	if err != nil {
		return nil, err
	}
	msg := types.SigningBytes(h)
	if string(sig.Msg) != string(msg) {
		return nil, fmt.Errorf("%w: signed message is not this proposal's", ErrBadSignature)
	}
	if err := c.VerifySignature(sig); err != nil {
		return nil, err
	}
	return nil, nil
}

// VerifySignature implements bft.Verifier.
func (c *Consensus) VerifySignature(sig bft.Signature) error {
	pub := c.members().keys[sig.ID]
	if pub == nil {
		return fmt.Errorf("%w: unknown signer %d", ErrBadSignature, sig.ID)
	}
	if !ed25519.Verify(pub, sig.Msg, sig.Value) {
		return fmt.Errorf("%w from node %d", ErrBadSignature, sig.ID)
	}
	return nil
}

// VerificationSequence implements bft.Verifier: it changes with the
// consensus set.
func (c *Consensus) VerificationSequence() uint64 { return c.members().version }

// RequestsFromProposal implements bft.Verifier.
func (c *Consensus) RequestsFromProposal(p bft.Proposal) []bft.RequestInfo {
	sealed, err := types.DecodeBatches(p.Payload)
	if err != nil {
		return nil
	}
	return infos(sealed)
}

// AuxiliaryData implements bft.Verifier; Coco signs no auxiliary data.
func (c *Consensus) AuxiliaryData([]byte) []byte { return nil }

// RequestID implements bft.RequestInspector.
func (c *Consensus) RequestID(req []byte) bft.RequestInfo {
	sb, err := types.DecodeSealedBatch(req)
	if err != nil {
		return bft.RequestInfo{}
	}
	return bft.RequestInfo{ClientID: sb.ClientID(), ID: sb.ID()}
}

// Sign implements bft.Signer.
func (c *Consensus) Sign(msg []byte) []byte { return ed25519.Sign(c.opts.Key, msg) }

// SignProposal implements bft.Signer: a node signs the header, which
// commits to the batches and the history root.
func (c *Consensus) SignProposal(p bft.Proposal, _ []byte) *bft.Signature {
	h, err := types.DecodeHeader(p.Header)
	if err != nil {
		c.log.Error("sign proposal: undecodable header", "err", err)
		return nil
	}
	msg := types.SigningBytes(h)
	return &bft.Signature{ID: c.opts.Self, Value: ed25519.Sign(c.opts.Key, msg), Msg: msg}
}

// Deliver implements bft.Application: the decided block is committed by the
// chain (fsync'd, executed) before this returns, as SmartBFT requires.
func (c *Consensus) Deliver(p bft.Proposal, sigs []bft.Signature) bft.Reconfig {
	if h, err := types.DecodeHeader(p.Header); err == nil && h.Number > c.opts.Chain.Head().Header.Number+1 {
		// Decided past our head (we missed blocks while down): fetch the gap
		// from peers first.
		c.syncFromPeers()
	}
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	head := c.opts.Chain.Head()
	if h, err := types.DecodeHeader(p.Header); err == nil && h.Number <= head.Header.Number {
		// Replayed from the WAL after a restart, or already learned by sync.
		return bft.Reconfig{}
	}
	op, err := c.open(p)
	if err != nil {
		// A quorum decided it, so it is valid; failing to open it means our
		// own state is broken. Stopping is the only safe answer.
		c.log.Error("cannot open decided proposal", "err", err)
		panic(fmt.Sprintf("deliver: %v", err))
	}
	b := &types.Block{Header: *op.header, Batches: op.sealed, Metadata: p.Metadata}
	for _, s := range sigs {
		b.Signatures = append(b.Signatures, types.Signature{Signer: s.ID, Value: s.Value, Msg: s.Msg})
	}
	if err := c.opts.Chain.Commit(b, op.batches, op.leaves); err != nil {
		c.log.Error("cannot commit decided block", "number", b.Header.Number, "err", err)
		panic(fmt.Sprintf("deliver block %d: %v", b.Header.Number, err))
	}
	c.markOrdered(p.Digest(), op, b.Header.Number)
	c.headVersion.Store(uint64(p.VerificationSequence) + 1)
	if c.refreshMembers() {
		c.recordHeadVersion(b.Header.Number, uint64(p.VerificationSequence))
		// SmartBFT restarts its components over the new set, or shuts
		// itself down if this node left it.
		c.pendingReconfig.Store(false)
		return c.reconfig()
	}
	return bft.Reconfig{}
}

// Nodes implements bft.Comm.
func (c *Consensus) Nodes() []uint64 { return append([]uint64(nil), c.members().ids...) }

// SendConsensus implements bft.Comm over the bus.
func (c *Consensus) SendConsensus(to uint64, m *protos.Message) {
	data, err := proto.Marshal(m)
	if err != nil {
		c.log.Error("marshal consensus message", "err", err)
		return
	}
	c.send(to, kindConsensus, data)
}

// SendTransaction implements bft.Comm: forwards a batch to the leader.
func (c *Consensus) SendTransaction(to uint64, req []byte) { c.send(to, kindRequest, req) }

func (c *Consensus) send(to uint64, kind uint8, payload []byte) {
	if c.opts.Transport == nil {
		return
	}
	c.opts.Transport.Send(to, bridge.Seal(c.opts.Key, c.opts.Self, to, kind, payload))
}

func (c *Consensus) onMessage(data []byte) {
	env, err := bridge.Open(data, c.opts.Self, c.peerKey)
	if err != nil {
		c.dropped("dropping bus message", err)
		return
	}
	switch env.Kind {
	case kindConsensus:
		var msg protos.Message
		if err := proto.Unmarshal(env.Payload, &msg); err != nil {
			c.dropped("dropping malformed consensus message", fmt.Errorf("from node %d: %w", env.From, err))
			return
		}
		if r := c.replica(); r != nil {
			r.HandleMessage(env.From, &msg)
		}
	case kindRequest:
		// Handled on their own goroutine: SmartBFT blocks a request while
		// the pool is full, and consensus messages on this subscription
		// (heartbeats among them) must not wait behind it. A request
		// dropped here is sent again by its origin.
		select {
		case c.requests <- forwarded{from: env.From, req: env.Payload}:
		default:
			c.dropped("dropping forwarded batch: request queue full", fmt.Errorf("from node %d", env.From))
		}
	default:
		c.dropped("dropping bus message of unknown kind", fmt.Errorf("kind %d from node %d", env.Kind, env.From))
	}
}

type forwarded struct {
	from uint64
	req  []byte
}

func (c *Consensus) handleRequests(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case f := <-c.requests:
			r := c.replica()
			switch {
			case r == nil:
			case r.GetLeaderID() == c.opts.Self:
				r.HandleRequest(f.from, f.req)
			default:
				c.adopt(r, f)
			}
		}
	}
}

// adopt takes another member's batch into this follower's pool, where
// SmartBFT forwards it to the leader and complains if the leader still
// leaves it out. Batches reach followers when their origin spreads them
// (resendUnordered), or when they were sent to a leader that has just
// been replaced.
func (c *Consensus) adopt(r *smartbft.Consensus, f forwarded) {
	sb, err := types.DecodeSealedBatch(f.req)
	if err != nil {
		c.dropped("dropping forwarded batch", fmt.Errorf("from node %d: %w", f.from, err))
		return
	}
	if c.wasOrdered(requestID(sb.Origin, sb.Seq)) {
		return
	}
	if _, err := c.VerifyRequest(f.req); err != nil {
		c.dropped("dropping forwarded batch", fmt.Errorf("from node %d: %w", f.from, err))
		return
	}
	// Already pooled or already delivered: SmartBFT refuses it, nothing
	// to do.
	if err := r.SubmitRequest(f.req); err != nil {
		c.log.Debug("forwarded batch not pooled", "origin", sb.Origin, "seq", sb.Seq, "err", err)
	}
}

// dropped counts a rejected bus message and logs at most one line a second,
// so that a peer sending garbage cannot flood the log.
func (c *Consensus) dropped(msg string, err error) {
	droppedMessages.Inc()
	c.mu.Lock()
	c.drops++
	if time.Since(c.lastDropLog) < time.Second {
		c.mu.Unlock()
		return
	}
	n := c.drops
	c.drops, c.lastDropLog = 0, time.Now()
	c.mu.Unlock()
	c.log.Warn(msg, "err", err, "dropped_since_last_report", n)
}
