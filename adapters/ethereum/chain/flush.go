package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethdb"
)

// State lives in two places, as on a go-ethereum full node with the hash
// scheme: the trie database's dirty cache holds the trie nodes of recent
// blocks, and a flush writes everything the head state needs to disk. Blocks,
// receipts and lookups are written at every block, without fsync: the Coco
// ledger, fsynced before any block executes, is what makes a block durable.
//
// The number of the last flushed block is stored under flushedKey, after the
// trie nodes it covers. On open, a head above it means a crash lost the state
// of the blocks in between: the chain starts from the flushed block and the
// node executes the later ones again from its ledger.

// recentStates is how many of the latest blocks keep their state readable
// from memory (go-ethereum's TriesInMemory). Older states are readable only
// if a flush wrote them.
const recentStates = 128

// flushedKey holds the 8-byte big-endian number of the last block whose
// state was flushed. Databases written before it existed flushed every
// block.
var flushedKey = []byte("coco-state-flushed")

// ErrStateUnavailable means the state of a block is neither kept in memory
// (only the latest blocks' are) nor flushed to disk.
var ErrStateUnavailable = errors.New("state not available")

// retained is a block whose state root holds a reference in the trie
// database's dirty cache.
type retained struct {
	number uint64
	root   common.Hash
}

func readFlushed(db ethdb.KeyValueReader) (number uint64, ok bool, err error) {
	has, err := db.Has(flushedKey)
	if err != nil || !has {
		return 0, false, err
	}
	v, err := db.Get(flushedKey)
	if err != nil {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: flushed height of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

func writeFlushed(db ethdb.KeyValueWriter, number uint64) error {
	return db.Put(flushedKey, binary.BigEndian.AppendUint64(nil, number))
}

// resume decides the head the chain presents on open: the stored head if
// its state was flushed, else the last flushed block.
func (c *Chain) resume(stored *types.Header) (*types.Header, error) {
	top := stored.Number.Uint64()
	flushed, ok, err := readFlushed(c.db)
	if err != nil {
		return nil, fmt.Errorf("read flushed height: %w", err)
	}
	if !ok {
		// Written before the marker existed, when every block was flushed.
		// Record it now: once later blocks are stored, the head no longer
		// tells what is on disk.
		flushed = top
		if err := writeFlushed(c.db, top); err != nil {
			return nil, fmt.Errorf("record flushed height: %w", err)
		}
		if err := c.db.SyncKeyValue(); err != nil {
			return nil, fmt.Errorf("record flushed height: %w", err)
		}
	}
	if flushed > top {
		return nil, fmt.Errorf("%w: state flushed at block %d, above the head %d", ErrCorrupt, flushed, top)
	}
	// Blocks stored above the head come from an earlier crash during
	// replay; they are checked like the others when executed again.
	c.replayTo = top
	for rawdb.ReadCanonicalHash(c.db, c.replayTo+1) != (common.Hash{}) {
		c.replayTo++
	}
	c.flushed, c.lastFlush = flushed, time.Now()
	if flushed == top {
		return stored, nil
	}
	head := c.storedHeader(flushed)
	if head == nil {
		return nil, fmt.Errorf("%w: no header for flushed block %d", ErrCorrupt, flushed)
	}
	c.log.Info("state was flushed below the stored head; later blocks will be executed again",
		"flushed", flushed, "stored_head", top, "stored_above", c.replayTo)
	return head, nil
}

// storedHeader reads the canonical header at number, above the head too.
func (c *Chain) storedHeader(number uint64) *types.Header {
	hash := rawdb.ReadCanonicalHash(c.db, number)
	if hash == (common.Hash{}) {
		return nil
	}
	return rawdb.ReadHeader(c.db, hash, number)
}

// retainLocked keeps the state of the block just written in memory, flushes
// when a bound is reached and releases the states that fell out of the
// recent window. Called with execMu held.
func (c *Chain) retainLocked(head *types.Header) error {
	number := head.Number.Uint64()
	c.recent = append(c.recent, retained{number: number, root: head.Root})
	limit := common.StorageSize(c.cfg.DirtyCacheBytes)
	_, dirty, _ := c.tdb.Size()
	full := dirty > limit
	if full || number-c.flushed >= c.cfg.FlushBlocks || time.Since(c.lastFlush) >= c.cfg.FlushInterval {
		if err := c.flushLocked(head); err != nil {
			return err
		}
		_, dirty, _ = c.tdb.Size()
	}
	// What a flush leaves in memory belongs to older states only. When the
	// cache was full they go early, down to half the limit, or the next
	// blocks would fill it again at once and flush every time.
	for len(c.recent) > recentStates || (full && dirty > limit/2 && len(c.recent) > 1) {
		if err := c.tdb.Dereference(c.recent[0].root); err != nil {
			return fmt.Errorf("release state of block %d: %w", c.recent[0].number, err)
		}
		c.recent = c.recent[1:]
		if full {
			_, dirty, _ = c.tdb.Size()
		}
	}
	dirtyBytes.Set(float64(dirty))
	return nil
}

// flushLocked writes the state of head to disk, then its number. The trie
// nodes go first, and the store's write-ahead log keeps that order through
// a crash, so a surviving number always has its state. No fsync here: it
// would stall execution, and the node's next ledger append fsyncs the same
// write-ahead log. Called with execMu held.
func (c *Chain) flushLocked(head *types.Header) error {
	number := head.Number.Uint64()
	start := time.Now()
	if err := c.tdb.Commit(head.Root, false); err != nil {
		return fmt.Errorf("flush state of block %d: %w", number, err)
	}
	if err := writeFlushed(c.db, number); err != nil {
		return fmt.Errorf("record flushed block %d: %w", number, err)
	}
	c.flushed, c.lastFlush = number, time.Now()
	flushSeconds.Observe(time.Since(start).Seconds())
	c.log.Debug("state flushed", "number", number, "took", time.Since(start))
	return nil
}

// closeLocked flushes the head state and writes the states still kept in
// memory too, so that after a clean restart the recent blocks stay readable
// (go-ethereum writes a few of them on shutdown for the same reason).
func (c *Chain) closeLocked() error {
	head := c.head.Load()
	if head.Number.Uint64() > c.flushed || len(c.recent) > 0 {
		if err := c.flushLocked(head); err != nil {
			return err
		}
	}
	for i := len(c.recent) - 1; i >= 0; i-- {
		if err := c.tdb.Commit(c.recent[i].root, false); err != nil {
			return fmt.Errorf("write state of block %d: %w", c.recent[i].number, err)
		}
	}
	c.recent = nil
	if err := c.db.SyncKeyValue(); err != nil {
		return fmt.Errorf("sync recent states: %w", err)
	}
	return nil
}
