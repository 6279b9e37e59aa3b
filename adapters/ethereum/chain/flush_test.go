package chain

import (
	"errors"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/cocoledger/coco/core/node"
	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethdb"
	"github.com/ethereum/go-ethereum/ethdb/leveldb"
	"github.com/ethereum/go-ethereum/params"
)

// flushConfig flushes every flushBlocks blocks and never on time or size,
// so that which states reach the disk is deterministic.
func flushConfig(flushBlocks uint64) Config {
	cfg := testConfig(4)
	cfg.FlushBlocks = flushBlocks
	cfg.FlushInterval = time.Hour
	cfg.DirtyCacheBytes = 1 << 30
	return cfg
}

// openLevelDB opens an on-disk database in dir; the test closes it.
func openLevelDB(t *testing.T, dir string) ethdb.Database {
	t.Helper()
	kv, err := leveldb.New(filepath.Join(dir, "eth"), 16, 16, "", false)
	if err != nil {
		t.Fatal(err)
	}
	return rawdb.NewDatabase(kv)
}

// workload builds n blocks: block 1 deploys the counter contract, every
// block has transfers from keys 1-3 and a call that stores the block number
// in the contract, so both the account trie and a storage trie change.
func workload(s *sim, n int) []*node.ExecBlock {
	deployer := key(4)
	contract := crypto.CreateAddress(addr(deployer), 0)
	blocks := make([]*node.ExecBlock, n+1)
	for i := 1; i <= n; i++ {
		var txs []coretypes.Tx
		for k := 1; k <= 3; k++ {
			txs = s.txsFor(txs, s.transfer(key(k), uint64(i-1), addr(key(k%3+1)), big.NewInt(int64(i))))
		}
		if i == 1 {
			txs = s.txsFor(txs, s.dynTx(deployer, 0, nil, nil, 200_000, big.NewInt(2*params.GWei), gwei, common.FromHex(counterInit)))
		} else {
			word := common.BigToHash(big.NewInt(int64(i)))
			txs = s.txsFor(txs, s.dynTx(deployer, uint64(i-1), &contract, nil, 100_000, big.NewInt(2*params.GWei), gwei, word.Bytes()))
		}
		blocks[i] = execBlock(uint64(i), txs)
	}
	return blocks
}

func flushedHeight(t *testing.T, db ethdb.KeyValueReader) uint64 {
	t.Helper()
	n, ok, err := readFlushed(db)
	if err != nil || !ok {
		t.Fatalf("flushed height: %v %v", ok, err)
	}
	return n
}

// A crash loses the blocks executed since the last flush: the reopened
// chain stands at the flushed block, and executing the later blocks again
// from the same ledger blocks gives the same Ethereum blocks and states.
func TestCrashResumesFromFlushedState(t *testing.T) {
	const blocks, every = 300, 32
	dir := t.TempDir()
	cfg := flushConfig(every)
	db := openLevelDB(t, dir)
	c, err := New(db, cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, c: c}
	in := workload(s, blocks)
	hashes := make([]common.Hash, blocks+1)
	roots := make([]coretypes.Hash, blocks+1)
	for n := 1; n <= blocks; n++ {
		if roots[n], err = c.Execute(in[n]); err != nil {
			t.Fatalf("block %d: %v", n, err)
		}
		hashes[n] = c.CurrentHeader().Hash()
		if got := len(c.BlockByNumber(uint64(n)).Transactions()); got != 4 {
			t.Fatalf("block %d has %d txs", n, got)
		}
	}
	const flushed = blocks / every * every
	if got := flushedHeight(t, db); got != flushed {
		t.Fatalf("flushed at %d, want %d", got, flushed)
	}
	// While running, Height is the latest executed block.
	if c.Height() != blocks || c.Root() != roots[blocks] {
		t.Fatalf("running height %d", c.Height())
	}
	// Crash: the chain is dropped without Close, its memory lost.
	db.Close()

	reopen := func() (*Chain, ethdb.Database) {
		t.Helper()
		db := openLevelDB(t, dir)
		c, err := New(db, cfg, nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if c.Height() != flushed || c.Root() != roots[flushed] || c.CurrentHeader().Hash() != hashes[flushed] {
			t.Fatalf("reopened at %d root %v, want %d root %v", c.Height(), c.Root(), flushed, roots[flushed])
		}
		if c.HeaderByNumber(flushed+1) != nil || c.BlockByNumber(blocks) != nil {
			t.Fatal("blocks above the flushed state are served before they are executed again")
		}
		return c, db
	}
	c, db = reopen()
	// The node replays from Height()+1; the flushed block itself is a
	// no-op replay.
	if r, err := c.Execute(in[flushed]); err != nil || r != roots[flushed] {
		t.Fatalf("replay of the flushed block: %v", err)
	}
	forked := *in[flushed+1]
	forked.Hash[0] ^= 1
	if _, err := c.Execute(&forked); !errors.Is(err, ErrDiverged) {
		t.Fatalf("another block %d than before the crash: %v", flushed+1, err)
	}
	// Crash again half-way through the replay.
	for n := flushed + 1; n <= flushed+5; n++ {
		if r, err := c.Execute(in[n]); err != nil || r != roots[n] || c.CurrentHeader().Hash() != hashes[n] {
			t.Fatalf("re-execute block %d: root %v, %v", n, r, err)
		}
	}
	db.Close()

	c, db = reopen()
	for n := flushed + 1; n <= blocks; n++ {
		r, err := c.Execute(in[n])
		if err != nil {
			t.Fatalf("re-execute block %d: %v", n, err)
		}
		if r != roots[n] || c.CurrentHeader().Hash() != hashes[n] {
			t.Fatalf("block %d executed again: hash %v root %v, before the crash %v %v", n, c.CurrentHeader().Hash(), r, hashes[n], roots[n])
		}
	}
	last := c.BlockByNumber(blocks)
	tx, bh, num, _ := c.Transaction(last.Transactions()[0].Hash())
	if tx == nil || bh != hashes[blocks] || num != blocks {
		t.Fatalf("lookup of a re-executed transaction: %v %v %d", tx, bh, num)
	}
	if rs := c.Receipts(hashes[blocks]); len(rs) != 4 || rs[3].Status != 1 {
		t.Fatalf("receipts of a re-executed block: %v", rs)
	}
	st, err := c.StateAt(blocks)
	if err != nil {
		t.Fatal(err)
	}
	contract := crypto.CreateAddress(addr(key(4)), 0)
	if got := st.GetState(contract, common.Hash{}); got != common.BigToHash(big.NewInt(blocks)) {
		t.Fatalf("contract slot %v", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute(execBlock(blocks+1, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("execute after close: %v", err)
	}
	db.Close()
}

// A clean Close writes everything: the reopened chain stands at the last
// executed block, with the recent states readable.
func TestCloseFlushes(t *testing.T) {
	const blocks = 20
	dir := t.TempDir()
	cfg := flushConfig(128)
	db := openLevelDB(t, dir)
	c, err := New(db, cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, c: c}
	in := workload(s, blocks)
	for n := 1; n <= blocks; n++ {
		if _, err := c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
	}
	if got := flushedHeight(t, db); got != 0 {
		t.Fatalf("flushed at %d before Close", got)
	}
	head := c.CurrentHeader()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db.Close()

	db = openLevelDB(t, dir)
	defer db.Close()
	c, err = New(db, cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Height() != blocks || c.CurrentHeader().Hash() != head.Hash() || c.Root() != coretypes.Hash(head.Root) {
		t.Fatalf("reopened at %d", c.Height())
	}
	for _, n := range []uint64{1, blocks / 2, blocks} {
		st, err := c.StateAt(n)
		if err != nil {
			t.Fatalf("state at %d after a clean restart: %v", n, err)
		}
		if got := st.GetNonce(addr(key(1))); got != n {
			t.Fatalf("nonce at block %d is %d", n, got)
		}
	}
}

// The latest blocks' states are readable from memory and flushed ones from
// disk; the others fail with ErrStateUnavailable.
func TestStateAvailability(t *testing.T) {
	const blocks, every = 200, 50
	s := newSim(t, nil, flushConfig(every))
	in := workload(s, blocks)
	for n := 1; n <= blocks; n++ {
		if _, err := s.c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
	}
	oldest := uint64(blocks - recentStates + 1)
	for _, n := range []uint64{0, every, oldest, oldest + 1, blocks - 1, blocks} {
		st, err := s.c.StateAt(n)
		if err != nil {
			t.Fatalf("state at %d: %v", n, err)
		}
		if got := st.GetNonce(addr(key(1))); got != n {
			t.Fatalf("nonce at block %d is %d", n, got)
		}
	}
	for _, n := range []uint64{1, every + 1, oldest - 1} {
		if _, err := s.c.StateAt(n); !errors.Is(err, ErrStateUnavailable) {
			t.Fatalf("state at %d: %v, want ErrStateUnavailable", n, err)
		}
		if s.c.HeaderByNumber(n) == nil {
			t.Fatalf("header %d gone with its state", n)
		}
	}
	// The pool reads the unflushed head state.
	if got := s.pendingNonce(addr(key(1))); got != blocks {
		t.Fatalf("pending nonce %d", got)
	}
	s.send(s.transfer(key(1), blocks, addr(key(2)), big.NewInt(1)))
	if got := s.pendingNonce(addr(key(1))); got != blocks+1 {
		t.Fatalf("pending nonce after send %d", got)
	}
}

// Past the dirty cache limit, every block is flushed and nothing stays in
// memory.
func TestDirtyLimitFlushes(t *testing.T) {
	cfg := flushConfig(1000)
	cfg.DirtyCacheBytes = 1
	db := rawdb.NewMemoryDatabase()
	s := newSim(t, db, cfg)
	in := workload(s, 10)
	for n := 1; n <= 10; n++ {
		if _, err := s.c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
		if got := flushedHeight(t, db); got != uint64(n) {
			t.Fatalf("flushed at %d after block %d", got, n)
		}
		if _, dirty, _ := s.c.tdb.Size(); dirty != 0 {
			t.Fatalf("%v left in memory after block %d", dirty, n)
		}
	}
	// Every state was flushed, so all stay readable.
	if _, err := s.c.StateAt(1); err != nil {
		t.Fatal(err)
	}
}

// A database written before the flushed height was recorded flushed every
// block: its head is its state, also after a crash of the first run that
// records it.
func TestResumeWithoutFlushedMarker(t *testing.T) {
	db := rawdb.NewMemoryDatabase()
	cfg := flushConfig(128)
	c, err := New(db, cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, c: c}
	in := workload(s, 6)
	for n := 1; n <= 3; n++ {
		if _, err := c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(flushedKey); err != nil {
		t.Fatal(err)
	}
	c, err = New(db, cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if c.Height() != 3 {
		t.Fatalf("height %d without a flushed marker", c.Height())
	}
	for n := 4; n <= 6; n++ {
		if _, err := c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
	}
	// Crash: dropped without Close.
	c, err = New(db, cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if c.Height() != 3 {
		t.Fatalf("height %d after a crash, want the old head 3", c.Height())
	}
	c.Close()

	if err := writeFlushed(db, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := New(db, cfg, nil, quietLog()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flushed above the head: %v", err)
	}
}

// When the dirty cache fills up, the head state is flushed and older states
// are released early, down to half the limit: memory stays bounded without
// a flush at every block.
func TestDirtyLimitReleasesOldStates(t *testing.T) {
	const blocks = 60
	cfg := flushConfig(1000)
	cfg.DirtyCacheBytes = 64 << 10 // about 13 blocks of workload
	s := newSim(t, nil, cfg)
	in := workload(s, blocks)
	flushes := 0
	for n := 1; n <= blocks; n++ {
		before := s.c.flushed
		if _, err := s.c.Execute(in[n]); err != nil {
			t.Fatal(err)
		}
		if s.c.flushed != before {
			flushes++
		}
		if _, dirty, _ := s.c.tdb.Size(); dirty > common.StorageSize(cfg.DirtyCacheBytes) {
			t.Fatalf("block %d: %v in memory, limit %d", n, dirty, cfg.DirtyCacheBytes)
		}
	}
	if flushes == 0 || flushes > blocks/3 {
		t.Fatalf("%d flushes in %d blocks", flushes, blocks)
	}
	for _, n := range []uint64{s.c.flushed, blocks} {
		if _, err := s.c.StateAt(n); err != nil {
			t.Fatalf("state at %d: %v", n, err)
		}
	}
}
