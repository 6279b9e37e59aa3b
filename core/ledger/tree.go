package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoledger/coco/core/types"
)

// ErrInvalidProof marks an inclusion proof that does not lead from the leaf
// to the root.
var ErrInvalidProof = errors.New("invalid inclusion proof")

// EmptyRoot is the root of the tree with no leaves: SHA-256 of nothing.
var EmptyRoot = types.Sum()

// LeafHash is the history tree's hash of one leaf's data (RFC 9162: the
// 0x00 prefix keeps leaves and interior nodes apart).
func LeafHash(data []byte) types.Hash {
	return types.Sum([]byte{0}, data)
}

// NodeHash is the history tree's hash of an interior node.
func NodeHash(left, right types.Hash) types.Hash {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// VerifyInclusion checks that proof leads from leaf (the leaf's data, a
// transaction hash) at index to root in a tree of size leaves.
func VerifyInclusion(leaf types.Hash, index, size uint64, proof []types.Hash, root types.Hash) error {
	return VerifyInclusionHash(LeafHash(leaf[:]), index, size, proof, root)
}

// VerifyInclusionHash is VerifyInclusion for an already hashed leaf
// (RFC 9162, section 2.1.3.2).
func VerifyInclusionHash(leafHash types.Hash, index, size uint64, proof []types.Hash, root types.Hash) error {
	if index >= size {
		return fmt.Errorf("%w: leaf %d outside tree of size %d", ErrInvalidProof, index, size)
	}
	fn, sn := index, size-1
	r := leafHash
	for i, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: %d hashes, want %d", ErrInvalidProof, len(proof), i)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: %d hashes, too few for leaf %d of %d", ErrInvalidProof, len(proof), index, size)
	}
	if r != root {
		return fmt.Errorf("%w: computed root %s, want %s", ErrInvalidProof, r, root)
	}
	return nil
}

// Tree is the Merkle history tree over every transaction in the ledger
// (RFC 9162 shape). It stores the hash of every complete subtree under
// (level, index), so roots at past sizes and inclusion proofs are O(log n)
// lookups, and it keeps the right edge (one hash per set bit of the size)
// in memory so appends and staging need no reads.
//
// The ledger is its only writer; reads are safe concurrently with it.
type Tree struct {
	db *pebble.DB

	mu       sync.RWMutex
	size     uint64
	frontier [64]types.Hash // frontier[l]: root of the rightmost complete subtree of 2^l leaves, valid when bit l of size is set
}

// openTree loads the right edge of a tree of size leaves whose nodes are
// already stored.
func openTree(db *pebble.DB, size uint64) (*Tree, error) {
	t := &Tree{db: db, size: size}
	var offset uint64
	for l := 63; l >= 0; l-- {
		if size&(1<<l) == 0 {
			continue
		}
		h, err := t.node(uint8(l), offset>>l)
		if err != nil {
			return nil, err
		}
		t.frontier[l] = h
		offset += 1 << l
	}
	return t, nil
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size
}

// Root is the root at the current size.
func (t *Tree) Root() types.Hash {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return edgeRoot(t.size, &t.frontier)
}

// RootAt is the root the tree had when it held size leaves.
func (t *Tree) RootAt(size uint64) (types.Hash, error) {
	cur := t.Size()
	if size > cur {
		return types.Hash{}, fmt.Errorf("root at size %d: tree has %d leaves: %w", size, cur, ErrNotFound)
	}
	return t.rangeRoot(0, size)
}

// Stage returns the tree as it would be after appending leaves (their data:
// transaction hashes), without writing anything. A leader builds a header
// from it; the ledger commits it when the block is appended.
func (t *Tree) Stage(leaves ...types.Hash) *Stage {
	t.mu.RLock()
	s := &Stage{base: t.size, size: t.size, frontier: t.frontier}
	t.mu.RUnlock()
	s.Append(leaves...)
	return s
}

// InclusionProof returns the audit path of leaf index in the tree of size
// leaves, ordered from the leaf's sibling up to the root's child (RFC 9162
// section 2.1.3.1).
func (t *Tree) InclusionProof(index, size uint64) ([]types.Hash, error) {
	if cur := t.Size(); size > cur {
		return nil, fmt.Errorf("proof in tree of size %d: tree has %d leaves: %w", size, cur, ErrNotFound)
	}
	if index >= size {
		return nil, fmt.Errorf("proof of leaf %d in tree of size %d: %w", index, size, ErrNotFound)
	}
	// Walk down from the root; siblings are collected top-down, returned
	// bottom-up.
	var path []types.Hash
	lo, hi := uint64(0), size
	for hi-lo > 1 {
		k := splitPoint(hi - lo)
		var sib types.Hash
		var err error
		if index < lo+k {
			sib, err = t.rangeRoot(lo+k, hi)
			hi = lo + k
		} else {
			sib, err = t.rangeRoot(lo, lo+k)
			lo += k
		}
		if err != nil {
			return nil, err
		}
		path = append(path, sib)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path, nil
}

// rangeRoot is the root of leaves [lo, hi). Every range met while walking
// the tree from its root starts at a multiple of the largest power of two
// not above its length, so it splits into complete subtrees that are stored.
func (t *Tree) rangeRoot(lo, hi uint64) (types.Hash, error) {
	if lo == hi {
		return EmptyRoot, nil
	}
	var parts []types.Hash
	off := lo
	for n := hi - lo; n > 0; {
		l := 63 - bits.LeadingZeros64(n)
		if off&(1<<l-1) != 0 {
			return types.Hash{}, fmt.Errorf("history tree: range [%d,%d) not aligned", lo, hi)
		}
		h, err := t.node(uint8(l), off>>l)
		if err != nil {
			return types.Hash{}, err
		}
		parts = append(parts, h)
		off += 1 << l
		n -= 1 << l
	}
	r := parts[len(parts)-1]
	for i := len(parts) - 2; i >= 0; i-- {
		r = NodeHash(parts[i], r)
	}
	return r, nil
}

// Leaf returns the data of leaf index (a transaction hash).
func (t *Tree) Leaf(index uint64) (types.Hash, error) {
	if cur := t.Size(); index >= cur {
		return types.Hash{}, fmt.Errorf("leaf %d: tree has %d leaves: %w", index, cur, ErrNotFound)
	}
	return t.stored(0, index)
}

// node is the hash of a complete subtree. Level 0 stores the leaf's data,
// not its hash, so receipts by leaf index can name the transaction.
func (t *Tree) node(level uint8, index uint64) (types.Hash, error) {
	h, err := t.stored(level, index)
	if err != nil || level > 0 {
		return h, err
	}
	return LeafHash(h[:]), nil
}

func (t *Tree) stored(level uint8, index uint64) (types.Hash, error) {
	v, closer, err := t.db.Get(nodeKey(level, index))
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return types.Hash{}, fmt.Errorf("history tree node (%d,%d) missing: %w", level, index, ErrCorrupt)
		}
		return types.Hash{}, fmt.Errorf("history tree node (%d,%d): %w", level, index, err)
	}
	defer closer.Close()
	if len(v) != len(types.Hash{}) {
		return types.Hash{}, fmt.Errorf("history tree node (%d,%d) has %d bytes: %w", level, index, len(v), ErrCorrupt)
	}
	return types.Hash(v), nil
}

// commit makes a stage written to the database the tree's current state.
func (t *Tree) commit(s *Stage) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.base != t.size {
		return fmt.Errorf("history tree: stage based on size %d, tree has %d", s.base, t.size)
	}
	t.size, t.frontier = s.size, s.frontier
	return nil
}

// Stage is a tree with leaves appended in memory only.
type Stage struct {
	base, size uint64
	frontier   [64]types.Hash
	nodes      []stagedNode // complete subtrees created since base (leaf data at level 0)
}

type stagedNode struct {
	level uint8
	index uint64
	hash  types.Hash
}

// Append adds leaves (their data: transaction hashes).
func (s *Stage) Append(leaves ...types.Hash) {
	// Each leaf adds itself and, on average, one interior node.
	s.nodes = slices.Grow(s.nodes, 2*len(leaves)+64)
	for _, leaf := range leaves {
		h := LeafHash(leaf[:])
		idx := s.size
		s.nodes = append(s.nodes, stagedNode{0, idx, leaf})
		l := 0
		for ; idx&1 == 1; l++ {
			h = NodeHash(s.frontier[l], h)
			idx >>= 1
			s.nodes = append(s.nodes, stagedNode{uint8(l + 1), idx, h})
		}
		s.frontier[l] = h
		s.size++
	}
}

// Size is the number of leaves after the staged appends.
func (s *Stage) Size() uint64 { return s.size }

// Root is the root after the staged appends.
func (s *Stage) Root() types.Hash { return edgeRoot(s.size, &s.frontier) }

func (s *Stage) write(b *pebble.Batch) error {
	for _, n := range s.nodes {
		if err := b.Set(nodeKey(n.level, n.index), n.hash[:], nil); err != nil {
			return err
		}
	}
	return nil
}

// edgeRoot folds the right edge of a tree: smaller subtrees sit to the right.
func edgeRoot(size uint64, frontier *[64]types.Hash) types.Hash {
	if size == 0 {
		return EmptyRoot
	}
	l := bits.TrailingZeros64(size)
	r := frontier[l]
	for l++; l < 64; l++ {
		if size&(1<<l) != 0 {
			r = NodeHash(frontier[l], r)
		}
	}
	return r
}

// splitPoint is the largest power of two below n (n > 1).
func splitPoint(n uint64) uint64 {
	return 1 << (63 - bits.LeadingZeros64(n-1))
}

func nodeKey(level uint8, index uint64) []byte {
	k := make([]byte, 0, len(prefixNode)+9)
	k = append(k, prefixNode...)
	k = append(k, level)
	return binary.BigEndian.AppendUint64(k, index)
}
