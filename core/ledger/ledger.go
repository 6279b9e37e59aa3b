package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/cocoledger/coco/core/types"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such block, leaf, transaction or tree size (yet).
	ErrNotFound = errors.New("not found")
	// ErrKnownBlock: a block with this number and this header is already
	// in the ledger (a duplicate delivery; nothing to do).
	ErrKnownBlock = errors.New("block already in ledger")
	// ErrConflict: the ledger holds a different header at this number. Two
	// decided blocks at one height means the network broke its fault bound.
	ErrConflict = errors.New("conflicting block at this number")
	// ErrGap: the block's number is beyond the next one.
	ErrGap = errors.New("block number beyond next")
	// ErrPrevHash: the block does not extend the ledger's last block.
	ErrPrevHash = errors.New("previous block hash mismatch")
	// ErrHistorySize: the leaves given do not bring the history tree to the
	// header's HistorySize.
	ErrHistorySize = errors.New("history size mismatch")
	// ErrHistoryRoot: the leaves given do not give the header's HistoryRoot.
	ErrHistoryRoot = errors.New("history root mismatch")
	// ErrCorrupt: the stored ledger is inconsistent.
	ErrCorrupt = errors.New("ledger corrupt")
)

// Keys under the ledger's prefix. Numbers are big-endian so key order is
// numeric order.
var (
	prefixBlock  = []byte("l/b/")  // number → block encoding
	prefixSealed = []byte("l/h/")  // number → header and signatures, for reads that skip the batches
	prefixEnd    = []byte("l/x/")  // history size after a block with leaves → number
	prefixTx     = []byte("l/tx/") // transaction hash → leaf index
	prefixNode   = []byte("l/t/")  // level, index → complete subtree hash
	keyHeight    = []byte("l/m/height")
)

// sealed is a block minus its batches: what headers and receipts read.
type sealed struct {
	Header     types.Header
	Signatures []types.Signature
}

// Ledger is the append-only ledger of decided blocks. One goroutine
// appends; any number read concurrently.
type Ledger struct {
	db   *pebble.DB
	tree *Tree

	appendMu sync.Mutex // serialises Append

	mu   sync.RWMutex
	head *types.Header // nil while empty
	// base is the block a ledger reset to a snapshot starts from (0: it
	// holds every block); baseSize is the history size after it.
	base, baseSize uint64
}

// Open opens the ledger stored in db under the "l/" prefix, creating an
// empty one if there is none.
func Open(db *pebble.DB) (*Ledger, error) {
	l := &Ledger{db: db}
	v, closer, err := db.Get(keyHeight)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		l.tree, err = openTree(db, 0)
		if err != nil {
			return nil, err
		}
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	if len(v) != 8 {
		closer.Close()
		return nil, fmt.Errorf("open ledger: height has %d bytes: %w", len(v), ErrCorrupt)
	}
	height := binary.BigEndian.Uint64(v)
	closer.Close()
	s, err := l.sealedAt(height)
	if err != nil {
		return nil, fmt.Errorf("open ledger: head %d: %w", height, err)
	}
	l.tree, err = openTree(db, s.Header.HistorySize)
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	if err := l.loadBase(); err != nil {
		return nil, err
	}
	// Catches a tree and headers that disagree before anything is built on
	// them.
	if root := l.tree.Root(); root != s.Header.HistoryRoot {
		return nil, fmt.Errorf("open ledger: tree root %s, head %d says %s: %w", root, height, s.Header.HistoryRoot, ErrCorrupt)
	}
	l.head = &s.Header
	return l, nil
}

// Tree is the history tree over every transaction in the ledger. A leader
// stages a block's leaves on it to fill the header's HistorySize and
// HistoryRoot.
func (l *Ledger) Tree() *Tree { return l.tree }

// Height is the number of the last block, 0 when empty (see Head).
func (l *Ledger) Height() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.head == nil {
		return 0
	}
	return l.head.Number
}

// Head is a copy of the last block's header, nil when the ledger is empty.
func (l *Ledger) Head() *types.Header {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.head == nil {
		return nil
	}
	return copyHeader(l.head)
}

// Append adds a decided block. leaves are the data of the block's history
// leaves (its transactions' hashes, in order); the ledger cannot read the
// sealed batches, so the caller vouches that they match. Signatures are not
// checked here: deciding is consensus' job.
//
// The first block must be number 0 with a zero PrevHash (genesis); each
// later one must extend the last. Append returns once the block, its tree
// nodes and indices are fsynced in one atomic write: only then does the
// block count as committed locally.
func (l *Ledger) Append(b *types.Block, leaves []types.Hash) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	h := &b.Header
	head := l.Head()
	if err := l.checkNext(h, head); err != nil {
		return err
	}
	stage := l.tree.Stage(leaves...)
	if stage.Size() != h.HistorySize {
		return fmt.Errorf("block %d: %d leaves give size %d, header says %d: %w", h.Number, len(leaves), stage.Size(), h.HistorySize, ErrHistorySize)
	}
	if root := stage.Root(); root != h.HistoryRoot {
		return fmt.Errorf("block %d: leaves give root %s, header says %s: %w", h.Number, root, h.HistoryRoot, ErrHistoryRoot)
	}

	batch := l.db.NewBatch()
	defer batch.Close()
	if err := l.writeBlock(batch, b, leaves, stage); err != nil {
		return fmt.Errorf("block %d: %w", h.Number, err)
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("block %d: commit: %w", h.Number, err)
	}
	// Tree before head: a reader that sees the new head finds its tree.
	if err := l.tree.commit(stage); err != nil {
		return err
	}
	newHead := copyHeader(h)
	l.mu.Lock()
	l.head = newHead
	l.mu.Unlock()
	return nil
}

func (l *Ledger) checkNext(h, head *types.Header) error {
	if head == nil {
		if h.Number != 0 {
			return fmt.Errorf("block %d on an empty ledger, want genesis 0: %w", h.Number, ErrGap)
		}
		if h.PrevHash != (types.Hash{}) {
			return fmt.Errorf("genesis block with previous hash %s: %w", h.PrevHash, ErrPrevHash)
		}
		return nil
	}
	if h.Number <= head.Number {
		have, err := l.Header(h.Number)
		if err != nil {
			return fmt.Errorf("block %d: %w", h.Number, err)
		}
		if have.Hash() == h.Hash() {
			return fmt.Errorf("block %d: %w", h.Number, ErrKnownBlock)
		}
		return fmt.Errorf("block %d: header %s, ledger has %s: %w", h.Number, h.Hash(), have.Hash(), ErrConflict)
	}
	if h.Number > head.Number+1 {
		return fmt.Errorf("block %d after %d: %w", h.Number, head.Number, ErrGap)
	}
	if want := head.Hash(); h.PrevHash != want {
		return fmt.Errorf("block %d: previous hash %s, block %d is %s: %w", h.Number, h.PrevHash, head.Number, want, ErrPrevHash)
	}
	return nil
}

func (l *Ledger) writeBlock(batch *pebble.Batch, b *types.Block, leaves []types.Hash, stage *Stage) error {
	n := b.Header.Number
	if err := batch.Set(numKey(prefixBlock, n), b.Encode(), nil); err != nil {
		return err
	}
	s, err := rlp.EncodeToBytes(&sealed{Header: b.Header, Signatures: b.Signatures})
	if err != nil {
		return err
	}
	if err := batch.Set(numKey(prefixSealed, n), s, nil); err != nil {
		return err
	}
	if len(leaves) > 0 {
		if err := batch.Set(numKey(prefixEnd, stage.Size()), be64(n), nil); err != nil {
			return err
		}
	}
	// A transaction hash seen twice points at its latest leaf: either
	// occurrence proves inclusion.
	for i, leaf := range leaves {
		if err := batch.Set(txKey(leaf), be64(stage.base+uint64(i)), nil); err != nil {
			return err
		}
	}
	if err := stage.write(batch); err != nil {
		return err
	}
	return batch.Set(keyHeight, be64(n), nil)
}

// Block returns block n.
func (l *Ledger) Block(n uint64) (*types.Block, error) {
	if !l.has(n) {
		return nil, fmt.Errorf("block %d: %w", n, ErrNotFound)
	}
	v, closer, err := l.db.Get(numKey(prefixBlock, n))
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", n, notFound(err))
	}
	defer closer.Close()
	b, err := types.DecodeBlock(v)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w: %w", n, ErrCorrupt, err)
	}
	return b, nil
}

// Header returns the header of block n.
func (l *Ledger) Header(n uint64) (*types.Header, error) {
	if !l.has(n) {
		return nil, fmt.Errorf("header %d: %w", n, ErrNotFound)
	}
	s, err := l.sealedAt(n)
	if err != nil {
		return nil, err
	}
	return &s.Header, nil
}

// Blocks yields blocks from through to (inclusive) in order, stopping at the
// height the ledger had when iteration began. For replay and state
// transfer.
func (l *Ledger) Blocks(from, to uint64) iter.Seq2[*types.Block, error] {
	return func(yield func(*types.Block, error) bool) {
		head := l.Head()
		if head == nil || from > to || from > head.Number {
			return
		}
		to = min(to, head.Number)
		if base := l.Base(); from < base && to > 0 {
			yield(nil, fmt.Errorf("blocks %d-%d: the ledger starts from a snapshot at block %d: %w", from, to, base, ErrNotFound))
			return
		}
		it, err := l.db.NewIter(&pebble.IterOptions{
			LowerBound: numKey(prefixBlock, from),
			UpperBound: numKey(prefixBlock, to+1),
		})
		if err != nil {
			yield(nil, fmt.Errorf("blocks %d-%d: %w", from, to, err))
			return
		}
		defer it.Close()
		want := from
		for ok := it.First(); ok; ok = it.Next() {
			n := binary.BigEndian.Uint64(it.Key()[len(prefixBlock):])
			if n != want {
				yield(nil, fmt.Errorf("block %d missing: %w", want, ErrCorrupt))
				return
			}
			v, err := it.ValueAndErr()
			if err != nil {
				yield(nil, fmt.Errorf("block %d: %w", n, err))
				return
			}
			b, err := types.DecodeBlock(v)
			if err != nil {
				yield(nil, fmt.Errorf("block %d: %w: %w", n, ErrCorrupt, err))
				return
			}
			if !yield(b, nil) {
				return
			}
			want++
		}
		if err := it.Error(); err != nil {
			yield(nil, fmt.Errorf("blocks %d-%d: %w", from, to, err))
			return
		}
		if want != to+1 {
			yield(nil, fmt.Errorf("block %d missing: %w", want, ErrCorrupt))
		}
	}
}

// has reports whether block n is committed (and held: see Base). Checking
// the in-memory head, not just the key, keeps reads consistent with Height
// and Tree while an append is finishing.
func (l *Ledger) has(n uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.head != nil && n <= l.head.Number && (n == 0 || n >= l.base)
}

func (l *Ledger) sealedAt(n uint64) (*sealed, error) {
	v, closer, err := l.db.Get(numKey(prefixSealed, n))
	if err != nil {
		return nil, fmt.Errorf("header %d: %w", n, notFound(err))
	}
	defer closer.Close()
	var s sealed
	if err := rlp.DecodeBytes(v, &s); err != nil {
		return nil, fmt.Errorf("header %d: %w: %v", n, ErrCorrupt, err)
	}
	return &s, nil
}

// notFound maps Pebble's not-found to the package's.
func notFound(err error) error {
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

func copyHeader(h *types.Header) *types.Header {
	c := *h
	c.PrevStateRoots = append([]types.Root(nil), h.PrevStateRoots...)
	return &c
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func numKey(prefix []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(prefix)+8), prefix...), n)
}

func txKey(h types.Hash) []byte {
	return append(append(make([]byte, 0, len(prefixTx)+len(h)), prefixTx...), h[:]...)
}

// prefixLimit is the first key after every key with prefix p (p's last
// byte is '/', so incrementing it cannot overflow).
func prefixLimit(p []byte) []byte {
	k := append([]byte(nil), p...)
	k[len(k)-1]++
	return k
}
