package consensus

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/batch"
	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/rlp"
	bft "github.com/hyperledger-labs/SmartBFT/pkg/types"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"
)

// memChain is a Chain kept in memory: a naive history (all leaves) and the
// committed blocks.
type memChain struct {
	head    *types.Block
	leaves  []types.Hash
	roots   []types.Root
	commits []*types.Block
}

func (m *memChain) Head() *types.Block                   { return m.head }
func (m *memChain) Block(n uint64) (*types.Block, error) { return m.commits[n-1], nil }
func (m *memChain) StateRoots() []types.Root             { return m.roots }
func (m *memChain) HistoryAfter(l []types.Hash) (uint64, types.Hash, error) {
	all := append(append([]types.Hash(nil), m.leaves...), l...)
	return uint64(len(all)), naiveRoot(all), nil
}
func (m *memChain) Commit(b *types.Block, _ []*types.Batch, leaves []types.Hash) error {
	m.head = b
	m.leaves = append(m.leaves, leaves...)
	m.commits = append(m.commits, b)
	return nil
}

// naiveRoot is RFC 9162's MTH, recomputed from scratch.
func naiveRoot(leaves []types.Hash) types.Hash {
	if len(leaves) == 0 {
		return ledger.EmptyRoot
	}
	if len(leaves) == 1 {
		return ledger.LeafHash(leaves[0][:])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return ledger.NodeHash(naiveRoot(leaves[:k]), naiveRoot(leaves[k:]))
}

type fixture struct {
	c     *Consensus
	chain *memChain
	keys  *batch.Keyring
	key   ed25519.PrivateKey
	other ed25519.PrivateKey
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	_, other, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{2}, 64)))
	keys, err := batch.NewKeyring(1, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	genesis := &types.Block{Header: types.Header{TimeMs: 1000, HistoryRoot: ledger.EmptyRoot}}
	chain := &memChain{head: genesis, roots: []types.Root{{Namespace: "x"}}}
	f := &fixture{chain: chain, keys: keys, key: key, other: other, now: time.UnixMilli(5000)}
	f.c = &Consensus{
		cfg: DefaultConfig(),
		opts: Options{
			Self: 1, Key: key, Keys: keys, Chain: chain, Log: slog.New(slog.DiscardHandler),
			Clock: func() time.Time { return f.now },
		},
		log:      slog.New(slog.DiscardHandler),
		opened:   map[string]*openedProposal{},
		seen:     map[string]uint64{},
		verified: map[string]*types.Batch{},
	}
	f.c.set.Store(newMembers([]Peer{{ID: 1, Key: key.Public().(ed25519.PublicKey)}, {ID: 2, Key: other.Public().(ed25519.PublicKey)}}, 0))
	return f
}

func (f *fixture) request(t *testing.T, origin, seq uint64, payloads ...string) []byte {
	t.Helper()
	b := &types.Batch{Origin: origin, Seq: seq}
	for _, p := range payloads {
		b.Txs = append(b.Txs, types.Tx{Namespace: "x", Payload: []byte(p)})
	}
	key := f.key
	if origin == 2 {
		key = f.other
	}
	sb, err := f.keys.Seal(b, key)
	if err != nil {
		t.Fatal(err)
	}
	return types.EncodeSealedBatch(sb)
}

func metadata(seq uint64) []byte {
	md, _ := proto.Marshal(&protos.ViewMetadata{LatestSequence: seq})
	return md
}

// fresh returns a verifier that has not seen the proposal (as a follower).
func (f *fixture) fresh() *Consensus {
	c := &Consensus{
		cfg: f.c.cfg, opts: f.c.opts, log: f.c.log,
		opened: map[string]*openedProposal{}, seen: f.c.seen, verified: map[string]*types.Batch{},
	}
	c.set.Store(f.c.members())
	return c
}

func TestAssembledProposalVerifiesAndCommits(t *testing.T) {
	f := newFixture(t)
	p := f.c.AssembleProposal(metadata(1), [][]byte{f.request(t, 1, 1, "a", "b"), f.request(t, 2, 1, "c")})
	infos, err := f.fresh().VerifyProposal(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].ClientID != "1" || infos[1].ClientID != "2" {
		t.Fatalf("request infos %v", infos)
	}
	sig := f.c.SignProposal(p, nil)
	if _, err := f.c.VerifyConsenterSig(*sig, p); err != nil {
		t.Fatalf("own signature: %v", err)
	}
	f.c.Deliver(p, []bft.Signature{*sig})
	if len(f.chain.commits) != 1 {
		t.Fatal("decided block not committed")
	}
	b := f.chain.commits[0]
	if b.Header.Number != 1 || b.Header.HistorySize != 3 || b.Header.TimeMs != 5000 || len(b.Signatures) != 1 {
		t.Fatalf("committed header %+v", b.Header)
	}
	// A batch ordered once is never ordered again, even if SmartBFT offers it.
	p2 := f.c.AssembleProposal(metadata(2), [][]byte{f.request(t, 1, 1, "a", "b"), f.request(t, 1, 2, "d")})
	sealed, _ := types.DecodeBatches(p2.Payload)
	if len(sealed) != 1 || sealed[0].Seq != 2 {
		t.Fatalf("re-offered batch was proposed again: %d batches", len(sealed))
	}
	// Time never goes backwards, even if the leader's clock does.
	f.now = time.UnixMilli(10)
	h, _ := types.DecodeHeader(p2.Header)
	if h.TimeMs <= b.Header.TimeMs {
		t.Fatalf("time went backwards: %d after %d", h.TimeMs, b.Header.TimeMs)
	}
}

func TestForgedProposalsAreRejected(t *testing.T) {
	f := newFixture(t)
	good := f.c.AssembleProposal(metadata(1), [][]byte{f.request(t, 1, 1, "a")})
	goodHeader, _ := types.DecodeHeader(good.Header)

	withHeader := func(edit func(h *types.Header)) bft.Proposal {
		h := *goodHeader
		edit(&h)
		return bft.Proposal{Header: h.Encode(), Payload: good.Payload, Metadata: good.Metadata}
	}
	foreign, _ := batch.NewKeyring(1, bytes.Repeat([]byte{9}, 32))
	forgedBatch, _ := foreign.Seal(&types.Batch{Origin: 1, Seq: 7, Txs: []types.Tx{{Payload: []byte("x")}}}, f.key)
	forgedPayload := types.EncodeBatches([]types.SealedBatch{*forgedBatch})

	cases := []struct {
		name string
		p    bft.Proposal
		want error
	}{
		{"wrong height", withHeader(func(h *types.Header) { h.Number = 5 }), ErrWrongHeight},
		{"wrong parent", withHeader(func(h *types.Header) { h.PrevHash[0] ^= 1 }), ErrWrongParent},
		{"time not after parent", withHeader(func(h *types.Header) { h.TimeMs = 1000 }), ErrTimeSkew},
		{"payload swapped", bft.Proposal{Header: good.Header, Payload: types.EncodeBatches(nil), Metadata: good.Metadata}, ErrBadPayload},
		{"history root forged", withHeader(func(h *types.Header) { h.HistoryRoot[0] ^= 1 }), ErrBadHistory},
		{"history size forged", withHeader(func(h *types.Header) { h.HistorySize = 9 }), ErrBadHistory},
		{"state roots forged", withHeader(func(h *types.Header) { h.PrevStateRoots = nil }), ErrStateDiverged},
		{"batch sealed by an outsider", withHeader(func(h *types.Header) { h.BatchesHash = types.Sum(forgedPayload) }), ErrBadPayload},
		{"garbage header", bft.Proposal{Header: []byte{1, 2, 3}, Payload: good.Payload}, types.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			if tc.name == "batch sealed by an outsider" {
				p.Payload = forgedPayload
			}
			if _, err := f.fresh().VerifyProposal(p); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A proposal that repeats a batch inside itself.
	dup := f.request(t, 1, 4, "z")
	sb, _ := types.DecodeSealedBatch(dup)
	payload := types.EncodeBatches([]types.SealedBatch{*sb, *sb})
	dupP := withHeader(func(h *types.Header) { h.BatchesHash = types.Sum(payload) })
	dupP.Payload = payload
	if _, err := f.fresh().VerifyProposal(dupP); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate batch: %v", err)
	}
}

func TestSignaturesAndRequests(t *testing.T) {
	f := newFixture(t)
	p := f.c.AssembleProposal(metadata(1), [][]byte{f.request(t, 1, 1, "a")})
	sig := f.c.SignProposal(p, nil)

	forged := *sig
	forged.Value = ed25519.Sign(f.other, sig.Msg) // node 2's key claiming to be node 1
	if _, err := f.c.VerifyConsenterSig(forged, p); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged signature: %v", err)
	}
	unknown := *sig
	unknown.ID = 9
	if _, err := f.c.VerifyConsenterSig(unknown, p); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unknown signer: %v", err)
	}
	other := f.c.AssembleProposal(metadata(1), [][]byte{f.request(t, 1, 2, "b")})
	if _, err := f.c.VerifyConsenterSig(*sig, other); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature moved to another proposal: %v", err)
	}
	// Node 2's genuine signature verifies.
	msg := sig.Msg
	if _, err := f.c.VerifyConsenterSig(bft.Signature{ID: 2, Value: ed25519.Sign(f.other, msg), Msg: msg}, p); err != nil {
		t.Fatalf("peer signature: %v", err)
	}

	if _, err := f.c.VerifyRequest(f.request(t, 1, 3, "ok")); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	if _, err := f.c.VerifyRequest(f.request(t, 5, 3, "x")); err == nil {
		t.Fatal("request from a node outside the consensus set accepted")
	}
	foreign, _ := batch.NewKeyring(1, bytes.Repeat([]byte{9}, 32))
	sb, _ := foreign.Seal(&types.Batch{Origin: 1, Seq: 4}, f.key)
	if _, err := f.c.VerifyRequest(types.EncodeSealedBatch(sb)); !errors.Is(err, batch.ErrUnsealable) {
		t.Fatalf("request sealed by an outsider: %v", err)
	}
	// Node 1 cannot spend node 2's sequence numbers.
	impostor, _ := f.keys.Seal(&types.Batch{Origin: 2, Seq: 9}, f.key)
	if _, err := f.c.VerifyRequest(types.EncodeSealedBatch(impostor)); !errors.Is(err, batch.ErrBadOrigin) {
		t.Fatalf("batch signed by another node than its origin: %v", err)
	}
	if _, err := f.c.VerifyRequest([]byte("garbage")); err == nil {
		t.Fatal("garbage request accepted")
	}
}

func TestVerifiedBatchesAreOpenedOnce(t *testing.T) {
	f := newFixture(t)
	req := f.request(t, 2, 1, "a")
	if _, err := f.c.VerifyRequest(req); err != nil {
		t.Fatal(err)
	}
	// Node 2 signs a second batch under the same sequence number: the
	// proposal must carry what it names, not what was verified first.
	twin := f.request(t, 2, 1, "b")
	if _, err := f.c.VerifyRequest(twin); err != nil {
		t.Fatal(err)
	}
	p := f.c.AssembleProposal(metadata(1), [][]byte{req})
	op, err := f.c.open(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(op.batches) != 1 || string(op.batches[0].Txs[0].Payload) != "a" {
		t.Fatalf("assembled %+v, want the batch the request carries", op.batches)
	}
	if _, err := f.fresh().VerifyProposal(p); err != nil {
		t.Fatalf("a follower that never saw the batch: %v", err)
	}

	// A batch verified while its origin was a member is not proposed after
	// the origin left.
	f.c.VerifyRequest(f.request(t, 2, 2, "c"))
	f.c.set.Store(newMembers([]Peer{{ID: 1, Key: f.key.Public().(ed25519.PublicKey)}}, 1))
	p = f.c.AssembleProposal(metadata(2), [][]byte{f.request(t, 2, 2, "c")})
	if op, err := f.c.open(p); err != nil || len(op.batches) != 0 {
		t.Fatalf("batch of a retired origin proposed: %v %+v", err, op)
	}

	// What is kept stays bounded.
	for seq := range uint64(maxVerified + 10) {
		f.c.VerifyRequest(f.request(t, 1, 100+seq, "d"))
	}
	if n := len(f.c.verified); n > maxVerified {
		t.Fatalf("%d batches kept, bound %d", n, maxVerified)
	}
}

func TestDeliverIgnoresReplayedDecisions(t *testing.T) {
	f := newFixture(t)
	p := f.c.AssembleProposal(metadata(1), [][]byte{f.request(t, 1, 1, "a")})
	sig := f.c.SignProposal(p, nil)
	f.c.Deliver(p, []bft.Signature{*sig})
	f.c.Deliver(p, []bft.Signature{*sig}) // the WAL replays it after a restart
	if len(f.chain.commits) != 1 {
		t.Fatalf("replayed decision committed %d times", len(f.chain.commits))
	}
}

// A node retired from the set may still fetch heights and blocks up to the
// block that retired it (to learn of its retirement), but not snapshots; a
// node never in the set fetches nothing.
func TestRetiredNodeMaySyncBlocksOnly(t *testing.T) {
	f := newFixture(t)
	_, retired, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{4}, 64)))
	_, stranger, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{5}, 64)))
	f.c.set.Store(f.c.members().withRetired([]FormerPeer{{Peer: Peer{ID: 3, Key: retired.Public().(ed25519.PublicKey)}, Until: 1}}))
	for n := uint64(1); n <= 3; n++ {
		f.chain.Commit(&types.Block{Header: types.Header{Number: n, TimeMs: 1000 + n}}, nil, nil)
	}

	blocks, _ := rlp.EncodeToBytes(blocksRequest{From: 1, Max: 10})
	ask := func(from uint64, key ed25519.PrivateKey, kind uint8, payload []byte) []byte {
		return f.c.serveSync(bridge.Seal(key, from, 1, kind, payload))
	}
	var height uint64
	if err := rlp.DecodeBytes(ask(3, retired, kindHeight, nil), &height); err != nil || height != 1 {
		t.Fatalf("a retired node is told height %d (%v), want the block that retired it (1)", height, err)
	}
	var got [][]byte
	if err := rlp.DecodeBytes(ask(3, retired, kindBlocks, blocks), &got); err != nil || len(got) != 1 {
		t.Fatalf("a retired node's block request: %d blocks (%v), want only the block that retired it", len(got), err)
	}
	if err := rlp.DecodeBytes(ask(2, f.other, kindBlocks, blocks), &got); err != nil || len(got) != 3 {
		t.Fatalf("a member's block request: %d blocks, %v", len(got), err)
	}
	if ask(3, retired, kindSnapshot, nil) != nil {
		t.Fatal("a retired node was served a snapshot")
	}
	if ask(4, stranger, kindHeight, nil) != nil || ask(4, stranger, kindBlocks, blocks) != nil {
		t.Fatal("a node never in the set was answered")
	}
	if ask(3, stranger, kindHeight, nil) != nil {
		t.Fatal("a request signed with another key than the retired node's was answered")
	}
}

// versionedChain changes the consensus set's version with every block
// (unless frozen), as a block trusting or retiring a node does.
type versionedChain struct {
	*memChain
	peers   []Peer
	version uint64
	frozen  bool // blocks leave the set alone
}

func (v *versionedChain) Peers() []Peer             { return v.peers }
func (v *versionedChain) MembershipVersion() uint64 { return v.version }
func (v *versionedChain) Commit(b *types.Block, batches []*types.Batch, leaves []types.Hash) error {
	if !v.frozen {
		v.version++
	}
	return v.memChain.Commit(b, batches, leaves)
}

// deliverSetChange delivers block 1 over a chain whose every block changes
// the set; dataDir is the consensus data directory ("" for none).
func deliverSetChange(t *testing.T, dataDir string) (*fixture, *versionedChain, bft.Proposal) {
	f := newFixture(t)
	f.c.opts.DataDir = dataDir
	chain := &versionedChain{memChain: f.chain, peers: []Peer{
		{ID: 1, Key: f.key.Public().(ed25519.PublicKey)}, {ID: 2, Key: f.other.Public().(ed25519.PublicKey)}}}
	f.c.opts.Chain = chain
	p := f.c.AssembleProposal(metadata(1), [][]byte{f.request(t, 1, 1, "a")})
	sig := f.c.SignProposal(p, nil)
	f.c.Deliver(p, []bft.Signature{*sig})
	return f, chain, p
}

// The head's decision, as this node reports it to SmartBFT (sync, view
// change), is the proposal as decided: stamped with the set's version
// before the block, not after it. Otherwise a view change after a
// membership change finds the last decisions of nodes unequal.
func TestHeadDecisionKeepsItsVerificationSequence(t *testing.T) {
	f, chain, p := deliverSetChange(t, "")
	if f.c.members().version != 1 {
		t.Fatalf("set version %d after the block, want 1", f.c.members().version)
	}
	if got := f.c.proposalOf(chain.Head()); !proto.Equal(toProto(got), toProto(p)) {
		t.Fatalf("head decision has verification sequence %d, decided with %d", got.VerificationSequence, p.VerificationSequence)
	}
}

// After a restart the head's verification sequence comes from the record
// written when the block changed the set; without it the head would carry
// the set's new version.
func TestHeadDecisionKeepsItsVerificationSequenceAcrossRestart(t *testing.T) {
	f, chain, p := deliverSetChange(t, t.TempDir())

	restart := func() *Consensus {
		c := &Consensus{opts: f.c.opts, log: f.c.log}
		c.set.Store(newMembers(chain.Peers(), chain.MembershipVersion()))
		if err := c.restoreHead(chain.Head().Header.Number); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := restart().proposalOf(chain.Head()); !proto.Equal(toProto(got), toProto(p)) {
		t.Fatalf("after a restart the head decision has verification sequence %d, decided with %d", got.VerificationSequence, p.VerificationSequence)
	}

	// A later block that leaves the set alone: the record is not its, and
	// the current version is the one it was decided under.
	chain.frozen = true
	f.now = f.now.Add(time.Second)
	p2 := f.c.AssembleProposal(metadata(2), [][]byte{f.request(t, 1, 2, "b")})
	sig2 := f.c.SignProposal(p2, nil)
	f.c.Deliver(p2, []bft.Signature{*sig2})
	if got := restart().proposalOf(chain.Head()); !proto.Equal(toProto(got), toProto(p2)) {
		t.Fatalf("after a restart the second head decision has verification sequence %d, decided with %d", got.VerificationSequence, p2.VerificationSequence)
	}
}

func toProto(p bft.Proposal) *protos.Proposal {
	return &protos.Proposal{Header: p.Header, Payload: p.Payload, Metadata: p.Metadata, VerificationSequence: uint64(p.VerificationSequence)}
}
