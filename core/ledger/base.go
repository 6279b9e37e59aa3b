package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/cocoledger/coco/core/types"
)

// A ledger normally holds every block from genesis. A node that caught up
// from a peer's state snapshot holds genesis, then the snapshot's block H
// (its base) and every block after it: blocks 1..H-1 are absent and read as
// ErrNotFound, as do receipts of transactions before H. The history tree
// keeps only its right edge at H, which is all that appending needs.

// keyBase holds the number of the block a ledger was reset to.
var keyBase = []byte("l/m/base")

// ErrEdge: a right edge that does not give the header's history root.
var ErrEdge = errors.New("history tree edge does not match the header")

// Edge returns the stored values of the complete subtrees on the tree's
// right edge, largest first: one per set bit of Size, each a node hash
// except a single leaf, which is the leaf's data (its transaction hash), as
// the tree stores it. With the size, it is all a tree needs to continue.
func (t *Tree) Edge() ([]types.Hash, error) {
	size := t.Size()
	edge := make([]types.Hash, 0, bits.OnesCount64(size))
	var offset uint64
	for l := 63; l >= 0; l-- {
		if size&(1<<l) == 0 {
			continue
		}
		h, err := t.stored(uint8(l), offset>>l)
		if err != nil {
			return nil, err
		}
		edge = append(edge, h)
		offset += 1 << l
	}
	return edge, nil
}

// EdgeRoot is the root of a tree of size leaves with the given right edge
// (as Tree.Edge returns it).
func EdgeRoot(size uint64, edge []types.Hash) (types.Hash, error) {
	if len(edge) != bits.OnesCount64(size) {
		return types.Hash{}, fmt.Errorf("%w: %d hashes for a tree of %d leaves, want %d", ErrEdge, len(edge), size, bits.OnesCount64(size))
	}
	var frontier [64]types.Hash
	i := 0
	for l := 63; l >= 0; l-- {
		if size&(1<<l) == 0 {
			continue
		}
		frontier[l] = edge[i]
		if l == 0 {
			frontier[0] = LeafHash(edge[i][:])
		}
		i++
	}
	return edgeRoot(size, &frontier), nil
}

// ResetTo replaces the ledger by one whose last block is b, a decided block
// taken from a peer's state snapshot together with the history tree's right
// edge after it. Every other block is dropped except genesis (block 0), and
// blocks after b append as usual. It is one fsynced write: after a crash
// the ledger is either the old one or the new one.
//
// Like Append it trusts its caller for b having been decided; it checks
// that edge gives b's history root.
func (l *Ledger) ResetTo(b *types.Block, edge []types.Hash) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	h := &b.Header
	if h.Number == 0 {
		return fmt.Errorf("reset to block 0: %w", ErrGap)
	}
	root, err := EdgeRoot(h.HistorySize, edge)
	if err != nil {
		return fmt.Errorf("reset to block %d: %w", h.Number, err)
	}
	if root != h.HistoryRoot {
		return fmt.Errorf("reset to block %d: edge gives root %s, header says %s: %w", h.Number, root, h.HistoryRoot, ErrEdge)
	}
	genesis, err := l.rawGenesis()
	if err != nil {
		return fmt.Errorf("reset to block %d: %w", h.Number, err)
	}

	batch := l.db.NewBatch()
	defer batch.Close()
	prefix := []byte("l/")
	if err := batch.DeleteRange(prefix, prefixLimit(prefix), nil); err != nil {
		return err
	}
	for k, v := range genesis {
		if err := batch.Set([]byte(k), v, nil); err != nil {
			return err
		}
	}
	if err := batch.Set(numKey(prefixBlock, h.Number), b.Encode(), nil); err != nil {
		return err
	}
	s, err := rlp.EncodeToBytes(&sealed{Header: b.Header, Signatures: b.Signatures})
	if err != nil {
		return err
	}
	if err := batch.Set(numKey(prefixSealed, h.Number), s, nil); err != nil {
		return err
	}
	var offset uint64
	i := 0
	for lv := 63; lv >= 0; lv-- {
		if h.HistorySize&(1<<lv) == 0 {
			continue
		}
		if err := batch.Set(nodeKey(uint8(lv), offset>>lv), edge[i][:], nil); err != nil {
			return err
		}
		offset += 1 << lv
		i++
	}
	if err := batch.Set(keyBase, be64(h.Number), nil); err != nil {
		return err
	}
	if err := batch.Set(keyHeight, be64(h.Number), nil); err != nil {
		return err
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("reset to block %d: commit: %w", h.Number, err)
	}
	tree, err := openTree(l.db, h.HistorySize)
	if err != nil {
		return fmt.Errorf("reset to block %d: %w", h.Number, err)
	}
	l.tree.reset(tree)
	newHead := copyHeader(h)
	l.mu.Lock()
	l.head, l.base, l.baseSize = newHead, h.Number, h.HistorySize
	l.mu.Unlock()
	return nil
}

// rawGenesis returns the stored entries of block 0, to keep across a reset.
func (l *Ledger) rawGenesis() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, k := range [][]byte{numKey(prefixBlock, 0), numKey(prefixSealed, 0)} {
		v, closer, err := l.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[string(k)] = append([]byte(nil), v...)
		closer.Close()
	}
	return out, nil
}

// Base is the number of the snapshot block the ledger was reset to (see
// ResetTo), 0 for a ledger that holds every block since genesis.
func (l *Ledger) Base() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.base
}

// loadBase reads the base of a ledger reset to a snapshot block.
func (l *Ledger) loadBase() error {
	v, closer, err := l.db.Get(keyBase)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open ledger: base: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return fmt.Errorf("open ledger: base has %d bytes: %w", len(v), ErrCorrupt)
	}
	l.base = binary.BigEndian.Uint64(v)
	s, err := l.sealedAt(l.base)
	if err != nil {
		return fmt.Errorf("open ledger: base block %d: %w", l.base, err)
	}
	l.baseSize = s.Header.HistorySize
	return nil
}

// reset makes t the tree other holds.
func (t *Tree) reset(other *Tree) {
	other.mu.RLock()
	size, frontier := other.size, other.frontier
	other.mu.RUnlock()
	t.mu.Lock()
	t.size, t.frontier = size, frontier
	t.mu.Unlock()
}
