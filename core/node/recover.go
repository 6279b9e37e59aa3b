package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoledger/coco/core/consensus"
	"github.com/cocoledger/coco/core/durable"
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/shares"
	"github.com/cocoledger/coco/core/state"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"
)

// ErrRecovery marks a recovery that cannot go on: a ledger copy of another
// network, a share that does not check out.
var ErrRecovery = errors.New("recovery")

// Recovery restores a network whose nodes are all lost, from a copy of one
// node's ledger and the members' recovery shares. A new node (new enclave,
// new keys) copies the ledger, which is plaintext apart from the sealed
// batches, and replays its governance, which is public: that checks every
// block's consensus signatures and tells it the members and, for every
// ledger secret generation, the recovery threshold and commitment. Members
// then hand it their shares, re-encrypted to its attested key; once every
// generation has its threshold, the secrets are rebuilt, checked against
// their commitments and sealed, and the node opens as usual: replaying the
// whole ledger checks every block's state roots.
type Recovery struct {
	dir string
	g   *Genesis
	enc enclave.Enclave
	id  *Identity
	log *slog.Logger
	db  *state.DB
	led *ledger.Ledger
	gov *gov.Gov

	mu    sync.Mutex
	got   map[uint64]map[string]shares.Share // generation → member id → share
	votes map[string][]byte                  // member id → signed recover_network vote
	done  chan struct{}
}

// RecoveryInfo is what members see of a recovering node before they give
// it a share.
type RecoveryInfo struct {
	Network     string                 `json:"network"`
	Node        Info                   `json:"node"`
	Height      uint64                 `json:"height"`
	Generations []RecoveryNeed         `json:"generations"`
	Secrets     []gov.SecretGeneration `json:"secrets"` // the members' encrypted shares are in here
	Done        bool                   `json:"done"`
}

// RecoveryNeed says how many shares of one generation the node holds.
type RecoveryNeed struct {
	Generation uint64 `json:"generation"`
	Threshold  int    `json:"threshold"`
	Have       int    `json:"have"`
}

// recoveryVotesFile holds, until the recovery block is written, the
// members' signed votes for this node (public data).
const recoveryVotesFile = "recovery-votes.json"

// Recovered reports whether dataDir holds a node that finished recovering.
func Recovered(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, membershipFile))
	return err == nil
}

// StartRecovery prepares a new node in dataDir from the ledger of the
// stopped node in from (its data directory). It may be called again after
// an interruption: the copy is kept.
func StartRecovery(dataDir, from string, enc enclave.Enclave, g *Genesis, log *slog.Logger) (*Recovery, error) {
	id, err := LoadIdentity(dataDir, enc)
	if errors.Is(err, ErrNoIdentity) {
		id, err = InitIdentity(dataDir, enc)
	}
	if err != nil {
		return nil, err
	}
	db, err := state.Open(filepath.Join(dataDir, "db"), state.Options{Key: enclave.DeriveKey(id.NodeSecret, "state"), Logger: log})
	if err != nil {
		return nil, err
	}
	r := &Recovery{dir: dataDir, g: g, enc: enc, id: id, log: log, db: db, got: map[uint64]map[string]shares.Share{}, votes: map[string][]byte{}, done: make(chan struct{})}
	if err := r.prepare(from); err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

func (r *Recovery) prepare(from string) error {
	l, err := ledger.Open(r.db.Pebble())
	if err != nil {
		return err
	}
	if l.Head() == nil {
		n, err := copyLedger(filepath.Join(from, "db"), r.db.Pebble())
		if err != nil {
			return err
		}
		if l, err = ledger.Open(r.db.Pebble()); err != nil {
			return err
		}
		r.log.Info("copied the ledger", "from", from, "keys", n, "height", l.Height())
	}
	if h, err := l.Header(0); err != nil || h.Hash() != r.g.Block(ledger.EmptyRoot).Header.Hash() {
		return fmt.Errorf("%w: the ledger in %s is not network %q's", ErrRecovery, from, r.g.Network)
	}
	r.led = l
	gv, err := gov.Open(r.db.Namespace(types.GovNamespace), r.g.Network, govGenesis(r.g), nodeVerifier(r.enc), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	last, err := replayGovernance(l, gv, gv.Height()+1)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRecovery, err)
	}
	r.gov = gv
	r.log.Info("replayed the ledger's governance: every block signed by a quorum of its consensus set",
		"height", last, "members", len(gv.ActiveMemberKeys()), "secret_generations", len(gv.SecretGenerations()))
	for _, sg := range gv.SecretGenerations() {
		if len(sg.Shares) == 0 || len(sg.Commitment) != 32 {
			return fmt.Errorf("%w: ledger secret generation %d has no recovery shares: this network cannot be recovered", ErrRecovery, sg.Generation)
		}
	}
	return nil
}

// copyLedger copies the ledger keys (l/) of a stopped node's database.
func copyLedger(fromDB string, to *pebble.DB) (int, error) {
	src, err := pebble.Open(fromDB, &pebble.Options{ReadOnly: true, Logger: quietPebble{}})
	if err != nil {
		return 0, fmt.Errorf("open %s (is that node stopped?): %w", fromDB, err)
	}
	defer src.Close()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: []byte("l/"), UpperBound: []byte("l0")})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	b := to.NewBatch()
	defer b.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		if err := b.Set(bytes.Clone(it.Key()), bytes.Clone(it.Value()), nil); err != nil {
			return n, err
		}
		n++
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	return n, b.Commit(pebble.Sync)
}

// Info is what members check before giving a share: the node's attested
// keys and what it still needs.
func (r *Recovery) Info() (RecoveryInfo, error) {
	info, err := r.id.Info(r.enc)
	if err != nil {
		return RecoveryInfo{}, err
	}
	ri := RecoveryInfo{Network: r.g.Network, Node: *info, Height: r.led.Height(), Secrets: r.gov.SecretGenerations()}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
		ri.Done = true
	default:
	}
	for _, sg := range ri.Secrets {
		need := RecoveryNeed{Generation: sg.Generation, Threshold: sg.Threshold, Have: len(r.got[sg.Generation])}
		if ri.Done {
			need.Have = sg.Threshold // the shares themselves are forgotten
		}
		ri.Generations = append(ri.Generations, need)
	}
	return ri, nil
}

// Done is closed once the ledger secrets are rebuilt and sealed.
func (r *Recovery) Done() <-chan struct{} { return r.done }

// Submit takes one member's signed share. Shares live in memory only.
func (r *Recovery) Submit(payload []byte) error {
	signed, req, err := gov.DecodeSigned(payload)
	if err != nil {
		return err
	}
	if (req.Kind != gov.KindRecoveryShare && req.Kind != gov.KindRecoverNetwork) || req.Network != r.g.Network {
		return fmt.Errorf("%w: want a %s or %s request for network %q", gov.ErrBadRequest, gov.KindRecoveryShare, gov.KindRecoverNetwork, r.g.Network)
	}
	member, ok := r.gov.ActiveMember(req.Member)
	if !ok {
		return fmt.Errorf("%w: %.12s is not an active member", gov.ErrRefused, req.Member)
	}
	if err := signed.Verify(member); err != nil {
		return err
	}
	if req.Kind == gov.KindRecoverNetwork {
		if req.Node.ID != r.id.NodeID() {
			return fmt.Errorf("%w: the vote is for node %.12s, this is %.12s", gov.ErrRefused, req.Node.ID, r.id.NodeID())
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.votes[req.Member] = payload
		r.log.Info("recovery vote received", "member", member.Name(), "votes", len(r.votes))
		return r.tryFinish()
	}
	rs := req.Recovery
	if rs.Node != r.id.NodeID() {
		return fmt.Errorf("%w: the share is for node %.12s, this is %.12s", gov.ErrRefused, rs.Node, r.id.NodeID())
	}
	var sg *gov.SecretGeneration
	for _, g := range r.gov.SecretGenerations() {
		if g.Generation == rs.Generation {
			sg = &g
		}
	}
	if sg == nil {
		return fmt.Errorf("%w: no ledger secret generation %d", gov.ErrRefused, rs.Generation)
	}
	share, err := shares.Open(rs.Share, r.id.EncryptionKey(), gov.RecoveryShareInfo(r.g.Network, rs.Generation, r.id.NodeID()))
	if err != nil {
		return fmt.Errorf("%w: %w", gov.ErrRefused, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	default:
	}
	if r.got[rs.Generation] == nil {
		r.got[rs.Generation] = map[string]shares.Share{}
	}
	r.got[rs.Generation][req.Member] = share
	r.log.Info("recovery share received", "member", member.Name(), "generation", rs.Generation, "have", len(r.got[rs.Generation]), "threshold", sg.Threshold)
	return r.tryFinish()
}

// tryFinish rebuilds every generation once each has its threshold.
func (r *Recovery) tryFinish() error {
	rebuilt := secrets{}
	for _, sg := range r.gov.SecretGenerations() {
		got := r.got[sg.Generation]
		if len(got) < sg.Threshold {
			return nil
		}
		var parts []shares.Share
		for _, s := range got {
			parts = append(parts, s)
		}
		var c [32]byte
		copy(c[:], sg.Commitment)
		secret, err := shares.CombineChecked(parts, c, string(shares.Info(r.g.Network, sg.Generation)))
		if err != nil {
			// A wrong share: drop this generation's shares and ask again.
			delete(r.got, sg.Generation)
			return fmt.Errorf("%w: generation %d: %w; its shares were discarded, submit them again", ErrRecovery, sg.Generation, err)
		}
		rebuilt[sg.Generation] = secret
	}
	// The members' votes make this node the consensus set, in the
	// recovery block it writes when it starts.
	var txs []types.Tx
	var payloads [][]byte
	for _, id := range slices.Sorted(maps.Keys(r.votes)) {
		txs = append(txs, types.Tx{Namespace: types.GovNamespace, Payload: r.votes[id]})
		payloads = append(payloads, r.votes[id])
	}
	signer, err := r.gov.RecoverySigner(txs)
	if err != nil || signer.ID != r.id.NodeID() {
		return nil // shares complete; waiting for enough members' votes
	}
	if err := saveSecrets(r.dir, r.enc, rebuilt); err != nil {
		return err
	}
	votes, err := json.Marshal(payloads)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(filepath.Join(r.dir, recoveryVotesFile), votes); err != nil {
		return err
	}
	m, _ := json.Marshal(membership{ConsensusID: signer.ConsensusID, Recovered: true})
	if err := durable.WriteFile(filepath.Join(r.dir, membershipFile), m); err != nil {
		return err
	}
	clear(r.got)
	r.log.Info("ledger secrets recovered from the members' shares", "generations", len(rebuilt))
	close(r.done)
	return nil
}

// Close releases the database; the node then opens normally.
func (r *Recovery) Close() error { return r.db.Close() }

// writeRecoveryBlock writes, once, the block that hands the network to this
// recovering node: the members' votes in clear, signed by this node alone.
// Called after the ledger was replayed, so the header carries the state
// roots every replica reached.
func (n *Node) writeRecoveryBlock() error {
	path := filepath.Join(n.cfg.DataDir, recoveryVotesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var payloads [][]byte
	if err := json.Unmarshal(data, &payloads); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRecovery, path, err)
	}
	head := n.Head()
	if head.Header.Recovery {
		return os.Remove(path) // written before a crash
	}
	b := &types.Batch{Origin: n.self, Seq: uint64(time.Now().UnixNano())}
	var leaves []types.Hash
	for _, p := range payloads {
		tx := types.Tx{Namespace: types.GovNamespace, Payload: p}
		b.Txs = append(b.Txs, tx)
		leaves = append(leaves, tx.Hash())
	}
	sb, err := n.keys.Seal(b, n.id.Key)
	if err != nil {
		return err
	}
	size, root, _ := n.HistoryAfter(leaves)
	md := &protos.ViewMetadata{}
	if len(head.Metadata) > 0 {
		if err := proto.Unmarshal(head.Metadata, md); err != nil {
			return err
		}
	}
	md.LatestSequence++
	md.DecisionsInView++
	mdBytes, err := proto.Marshal(md)
	if err != nil {
		return err
	}
	h := types.Header{
		Number: head.Header.Number + 1, PrevHash: head.Header.Hash(),
		TimeMs:      max(uint64(time.Now().UnixMilli()), head.Header.TimeMs+1),
		BatchesHash: types.Sum(types.EncodeBatches([]types.SealedBatch{*sb})),
		HistorySize: size, HistoryRoot: root, PrevStateRoots: n.StateRoots(), Recovery: true,
	}
	msg := types.SigningBytes(&h)
	blk := &types.Block{Header: h, Batches: []types.SealedBatch{*sb}, Metadata: mdBytes,
		Signatures: []types.Signature{{Signer: n.self, Value: ed25519.Sign(n.id.Key, msg), Msg: msg}}}
	// Checked as any peer will check it.
	signer, err := n.RecoverySigner(blk)
	if err != nil || signer.ID != n.self {
		return fmt.Errorf("%w: the recovery block would not verify: %v", ErrRecovery, err)
	}
	opened, err := n.keys.Open(sb)
	if err != nil {
		return err
	}
	if err := n.Commit(blk, []*types.Batch{opened}, leaves); err != nil {
		return fmt.Errorf("%w: write the recovery block: %w", ErrRecovery, err)
	}
	n.log.Warn("wrote the recovery block: this node alone is now the consensus set; the network is closed until the members open it (open_network)",
		"block", h.Number, "consensus_id", n.self, "votes", len(payloads))
	return os.Remove(path)
}

// RecoverySigner implements consensus.RecoveryChain.
func (n *Node) RecoverySigner(b *types.Block) (consensus.Peer, error) {
	row, err := n.gov.RecoverySigner(publicTxs(b))
	if err != nil {
		return consensus.Peer{}, err
	}
	return consensus.Peer{ID: row.ConsensusID, Key: ed25519.PublicKey(row.PublicKey)}, nil
}
