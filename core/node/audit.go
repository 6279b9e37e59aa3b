package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/state"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave"
)

// ErrAudit marks a ledger whose governance history does not check out.
var ErrAudit = errors.New("governance audit failed")

// AuditGovernance re-checks, from a stopped node's ledger files and the
// genesis document alone, every governance step of the network: each block
// must carry a quorum of the consensus nodes' signatures, and replaying the
// governance requests found in clear in the blocks (every member signature
// is checked again on the way) must reproduce the governance root that the
// next signed header records. step is called with each request's outcome.
// It returns the last block checked.
func AuditGovernance(dataDir string, g *Genesis, v enclave.Verifier, step func(*gov.Result)) (uint64, error) {
	pdb, err := pebble.Open(filepath.Join(dataDir, "db"), &pebble.Options{ReadOnly: true, Logger: quietPebble{}})
	if err != nil {
		return 0, fmt.Errorf("open ledger in %s (is the node stopped?): %w", dataDir, err)
	}
	defer pdb.Close()
	l, err := ledger.Open(pdb)
	if err != nil {
		return 0, err
	}
	if h, err := l.Header(0); err != nil || h.Hash() != g.Block(ledger.EmptyRoot).Header.Hash() {
		return 0, fmt.Errorf("%w: the ledger in %s is not network %q's", ErrAudit, dataDir, g.Network)
	}

	// Replay into a scratch governance state.
	tmp, err := os.MkdirTemp("", "coco-audit-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	key := make([]byte, state.KeySize)
	if _, err := rand.Read(key); err != nil {
		return 0, err
	}
	quiet := slog.New(slog.DiscardHandler)
	db, err := state.Open(tmp, state.Options{Key: key, Logger: quiet})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	gv, err := gov.Open(db.Namespace(types.GovNamespace), g.Network, govGenesis(g), nodeVerifier(v), quiet)
	if err != nil {
		return 0, err
	}
	gv.OnResult(step)

	return replayGovernance(l, gv, 1)
}

// replayGovernance checks blocks from..head of l against the consensus set
// of their height (quorum signatures) and the governance root their
// headers record, executing the governance requests of each block (public,
// so no ledger secret is needed) into gv. It returns the last block checked.
func replayGovernance(l *ledger.Ledger, gv *gov.Gov, from uint64) (uint64, error) {
	height := l.Height()
	for b, err := range l.Blocks(from, height) {
		if err != nil {
			return 0, err
		}
		n := b.Header.Number
		keys := map[uint64]ed25519.PublicKey{}
		for _, row := range gv.TrustedNodes() {
			keys[row.ConsensusID] = ed25519.PublicKey(row.PublicKey)
		}
		f := (len(keys) - 1) / 3
		quorum := (len(keys) + f + 2) / 2
		if b.Header.Recovery {
			// Signed by the recovering node alone, which the members'
			// votes in the block name.
			signer, err := gv.RecoverySigner(publicTxs(b))
			if err != nil {
				return n, fmt.Errorf("%w: block %d: %w", ErrAudit, n, err)
			}
			keys = map[uint64]ed25519.PublicKey{signer.ConsensusID: signer.PublicKey}
			quorum = 1
		}
		if signed := signers(&b.Header, b.Signatures, keys); signed < quorum {
			return n, fmt.Errorf("%w: block %d has %d valid consensus signatures, quorum is %d", ErrAudit, n, signed, quorum)
		}
		if root, ok := rootOf(b.Header.PrevStateRoots, types.GovNamespace); !ok || root != gv.Root() {
			return n, fmt.Errorf("%w: block %d records governance root %s, replay gives %s", ErrAudit, n, root, gv.Root())
		}
		if _, err := gv.Execute(n, publicTxs(b), b.Header.Recovery); err != nil {
			return n, err
		}
	}
	return height, nil
}

// publicTxs are a block's governance requests, in ledger order.
func publicTxs(b *types.Block) []types.Tx {
	var txs []types.Tx
	for _, sb := range b.Batches {
		for _, tx := range sb.Public {
			if tx.Namespace == types.GovNamespace {
				txs = append(txs, tx)
			}
		}
	}
	return txs
}

func signers(h *types.Header, sigs []types.Signature, keys map[uint64]ed25519.PublicKey) int {
	msg := types.SigningBytes(h)
	valid := map[uint64]bool{}
	for _, s := range sigs {
		if pub := keys[s.Signer]; pub != nil && ed25519.Verify(pub, msg, s.Value) {
			valid[s.Signer] = true
		}
	}
	return len(valid)
}

func rootOf(roots []types.Root, ns string) (types.Hash, bool) {
	for _, r := range roots {
		if r.Namespace == ns {
			return r.Root, true
		}
	}
	return types.Hash{}, false
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
