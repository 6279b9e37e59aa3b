package ledger

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoledger/coco/core/types"
)

// net is a test network: consensus ids 1..n with their keys.
type net struct {
	keys  map[uint64]ed25519.PrivateKey
	nodes map[uint64]ed25519.PublicKey
}

func newNet(n int) *net {
	r := rand.New(rand.NewPCG(99, 1))
	nt := &net{keys: map[uint64]ed25519.PrivateKey{}, nodes: map[uint64]ed25519.PublicKey{}}
	for id := uint64(1); id <= uint64(n); id++ {
		seed := randHash(r)
		k := ed25519.NewKeyFromSeed(seed[:])
		nt.keys[id] = k
		nt.nodes[id] = k.Public().(ed25519.PublicKey)
	}
	return nt
}

func (nt *net) sign(h *types.Header, ids ...uint64) []types.Signature {
	msg := types.SigningBytes(h)
	var sigs []types.Signature
	for _, id := range ids {
		sigs = append(sigs, types.Signature{Signer: id, Value: ed25519.Sign(nt.keys[id], msg), Msg: msg})
	}
	return sigs
}

// next builds the block after the ledger's head the way a leader does:
// history fields from a staged tree, signed by the given nodes.
func (nt *net) next(l *Ledger, leaves []types.Hash, signers ...uint64) *types.Block {
	st := l.Tree().Stage(leaves...)
	h := types.Header{HistorySize: st.Size(), HistoryRoot: st.Root(), TimeMs: 1000}
	if head := l.Head(); head != nil {
		h.Number, h.PrevHash, h.TimeMs = head.Number+1, head.Hash(), head.TimeMs+1
		h.PrevStateRoots = []types.Root{{Namespace: "eth", Root: types.Sum(head.PrevHash[:])}}
	}
	h.BatchesHash = types.Sum([]byte("batches"), h.PrevHash[:])
	b := &types.Block{
		Header:   h,
		Batches:  []types.SealedBatch{{Origin: 1, Seq: h.Number + 1, Ciphertext: []byte("sealed")}},
		Metadata: []byte("view"),
	}
	if h.Number > 0 {
		b.Signatures = nt.sign(&b.Header, signers...)
	}
	return b
}

func txs(r *rand.Rand, n int) []types.Hash {
	out := make([]types.Hash, n)
	for i := range out {
		tx := types.Tx{Namespace: "eth", Payload: []byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}}
		out[i] = tx.Hash()
	}
	return out
}

func diskDB(t testing.TB, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openLedger(t testing.TB, db *pebble.DB) *Ledger {
	t.Helper()
	l, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustAppend(t testing.TB, l *Ledger, b *types.Block, leaves []types.Hash) {
	t.Helper()
	if err := l.Append(b, leaves); err != nil {
		t.Fatalf("append block %d: %v", b.Header.Number, err)
	}
}

func TestAppendAndRead(t *testing.T) {
	db := diskDB(t, t.TempDir())
	defer db.Close()
	l := openLedger(t, db)
	if l.Head() != nil || l.Height() != 0 || l.Tree().Size() != 0 {
		t.Fatal("new ledger not empty")
	}
	if _, err := l.Block(0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Block(0) on empty ledger: %v, want ErrNotFound", err)
	}
	nt := newNet(4)
	r := rand.New(rand.NewPCG(3, 3))
	var blocks []*types.Block
	for n := range 12 {
		leaves := txs(r, r.IntN(5)) // some blocks have no transactions
		b := nt.next(l, leaves, 1, 2, 3)
		mustAppend(t, l, b, leaves)
		blocks = append(blocks, b)
		if l.Height() != uint64(n) || l.Head().Hash() != b.Header.Hash() {
			t.Fatalf("after block %d: height %d, head %s", n, l.Height(), l.Head().Hash())
		}
	}
	for n, want := range blocks {
		got, err := l.Block(uint64(n))
		if err != nil || !bytes.Equal(got.Encode(), want.Encode()) {
			t.Fatalf("Block(%d) = %v; differs from what was appended", n, err)
		}
		h, err := l.Header(uint64(n))
		if err != nil || h.Hash() != want.Header.Hash() {
			t.Fatalf("Header(%d) = %v; differs from what was appended", n, err)
		}
	}
	if _, err := l.Block(12); !errors.Is(err, ErrNotFound) {
		t.Errorf("Block beyond height: %v, want ErrNotFound", err)
	}
	if _, err := l.Header(12); !errors.Is(err, ErrNotFound) {
		t.Errorf("Header beyond height: %v, want ErrNotFound", err)
	}
	// The head handed out is a copy.
	l.Head().PrevStateRoots[0].Namespace = "changed"
	if l.Head().PrevStateRoots[0].Namespace != "eth" {
		t.Error("Head shares memory with the ledger")
	}

	ranges := []struct{ from, to, first, count uint64 }{
		{0, 11, 0, 12},
		{3, 5, 3, 3},
		{10, 100, 10, 2}, // stops at the height
		{12, 20, 0, 0},
		{5, 4, 0, 0},
	}
	for _, rg := range ranges {
		var got []uint64
		for b, err := range l.Blocks(rg.from, rg.to) {
			if err != nil {
				t.Fatalf("Blocks(%d, %d): %v", rg.from, rg.to, err)
			}
			got = append(got, b.Header.Number)
		}
		if uint64(len(got)) != rg.count || (rg.count > 0 && got[0] != rg.first) {
			t.Errorf("Blocks(%d, %d) gave %v", rg.from, rg.to, got)
		}
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1]+1 {
				t.Errorf("Blocks(%d, %d) out of order: %v", rg.from, rg.to, got)
			}
		}
	}
	// Breaking out of the loop early is allowed.
	for b := range l.Blocks(0, 11) {
		if b.Header.Number == 2 {
			break
		}
	}
}

func TestAppendRejects(t *testing.T) {
	db := diskDB(t, t.TempDir())
	defer db.Close()
	l := openLedger(t, db)
	nt := newNet(4)
	r := rand.New(rand.NewPCG(5, 5))

	g := nt.next(l, nil)
	g.Header.Number = 1
	if err := l.Append(g, nil); !errors.Is(err, ErrGap) {
		t.Errorf("non-zero first block: %v, want ErrGap", err)
	}
	g = nt.next(l, nil)
	g.Header.PrevHash = types.Hash{1}
	if err := l.Append(g, nil); !errors.Is(err, ErrPrevHash) {
		t.Errorf("genesis with a previous hash: %v, want ErrPrevHash", err)
	}
	genesisLeaves := txs(r, 2)
	mustAppend(t, l, nt.next(l, genesisLeaves), genesisLeaves)

	leaves := txs(r, 6)
	good := nt.next(l, leaves, 1, 2, 3)
	tamper := func(f func(b *types.Block)) *types.Block {
		b := nt.next(l, leaves, 1, 2, 3)
		f(b)
		return b
	}
	reordered := append([]types.Hash{leaves[1], leaves[0]}, leaves[2:]...)
	cases := []struct {
		name   string
		b      *types.Block
		leaves []types.Hash
		want   error
	}{
		{"gap", tamper(func(b *types.Block) { b.Header.Number = 2 }), leaves, ErrGap},
		{"previous hash", tamper(func(b *types.Block) { b.Header.PrevHash[0] ^= 1 }), leaves, ErrPrevHash},
		{"missing leaf", good, leaves[:5], ErrHistorySize},
		{"extra leaf", good, append(txs(r, 1), leaves...), ErrHistorySize},
		{"reordered leaves", good, reordered, ErrHistoryRoot},
		{"header root", tamper(func(b *types.Block) { b.Header.HistoryRoot[3] ^= 1 }), leaves, ErrHistoryRoot},
		{"known genesis", mustBlock(t, l, 0), genesisLeaves, ErrKnownBlock},
		{"conflicting genesis", tamper(func(b *types.Block) { b.Header.Number, b.Header.PrevHash = 0, types.Hash{} }), leaves, ErrConflict},
	}
	for _, c := range cases {
		if err := l.Append(c.b, c.leaves); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if l.Height() != 0 || l.Tree().Size() != 2 {
			t.Fatalf("%s: a rejected block changed the ledger", c.name)
		}
	}
	mustAppend(t, l, good, leaves)
	if err := l.Append(good, leaves); !errors.Is(err, ErrKnownBlock) {
		t.Errorf("same block twice: %v, want ErrKnownBlock", err)
	}
}

func mustBlock(t *testing.T, l *Ledger, n uint64) *types.Block {
	t.Helper()
	b, err := l.Block(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReopenResumes(t *testing.T) {
	dir := t.TempDir()
	nt := newNet(4)
	r := rand.New(rand.NewPCG(8, 8))
	var all []types.Hash

	db := diskDB(t, dir)
	l := openLedger(t, db)
	for range 7 {
		leaves := txs(r, 1+r.IntN(9))
		mustAppend(t, l, nt.next(l, leaves, 1, 2, 3, 4), leaves)
		all = append(all, leaves...)
	}
	head, root := l.Head(), l.Tree().Root()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = diskDB(t, dir)
	defer db.Close()
	l = openLedger(t, db)
	if l.Height() != 6 || l.Head().Hash() != head.Hash() || l.Tree().Root() != root || l.Tree().Size() != uint64(len(all)) {
		t.Fatalf("reopened at height %d size %d; want 6 and %d with the same head and root", l.Height(), l.Tree().Size(), len(all))
	}
	for _, tx := range all {
		rc, err := l.Receipt(tx)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyReceipt(rc, nt.nodes, 3); err != nil {
			t.Fatalf("receipt after reopen: %v", err)
		}
	}
	// Appending continues from where it stopped.
	leaves := txs(r, 3)
	mustAppend(t, l, nt.next(l, leaves, 1, 2, 3), leaves)
	if l.Height() != 7 {
		t.Fatalf("height %d after appending to the reopened ledger", l.Height())
	}
}

func TestOpenDetectsCorruptTree(t *testing.T) {
	dir := t.TempDir()
	nt := newNet(4)
	r := rand.New(rand.NewPCG(9, 9))
	db := diskDB(t, dir)
	l := openLedger(t, db)
	leaves := txs(r, 5)
	mustAppend(t, l, nt.next(l, leaves), leaves)
	// The rightmost leaf of 5 is a complete subtree of its own.
	if err := db.Set(nodeKey(0, 4), make([]byte, 32), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(db); !errors.Is(err, ErrCorrupt) {
		t.Errorf("open with a damaged tree: %v, want ErrCorrupt", err)
	}
	if err := db.Delete(nodeKey(2, 0), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(db); !errors.Is(err, ErrCorrupt) {
		t.Errorf("open with a missing tree node: %v, want ErrCorrupt", err)
	}
	db.Close()
}

func TestStaysUnderItsPrefix(t *testing.T) {
	db := memDB(t)
	others := map[string]string{"s/eth/x": "1", "m": "2", "l": "3", "lz": "4"}
	for k, v := range others {
		if err := db.Set([]byte(k), []byte(v), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	l := openLedger(t, db)
	nt := newNet(4)
	r := rand.New(rand.NewPCG(4, 4))
	for range 3 {
		leaves := txs(r, 4)
		mustAppend(t, l, nt.next(l, leaves, 1, 2, 3), leaves)
	}
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := string(it.Key())
		if v, ok := others[k]; ok {
			if string(it.Value()) != v {
				t.Errorf("key %q changed", k)
			}
			delete(others, k)
			continue
		}
		if !bytes.HasPrefix(it.Key(), []byte("l/")) {
			t.Errorf("ledger wrote key %q outside l/", k)
		}
	}
	if len(others) > 0 {
		t.Errorf("keys lost: %v", others)
	}
}

// One appender, several readers: every read sees whole blocks and receipts
// that verify. Run with -race.
func TestConcurrentReads(t *testing.T) {
	db := memDB(t)
	l := openLedger(t, db)
	nt := newNet(4)
	r := rand.New(rand.NewPCG(6, 6))
	genesis := txs(r, 1)
	mustAppend(t, l, nt.next(l, genesis), genesis)

	const blocks = 40
	var batches [][]types.Hash
	for range blocks {
		batches = append(batches, txs(r, 1+r.IntN(8)))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				head := l.Head()
				b, err := l.Block(head.Number)
				if err != nil || b.Header.Hash() != head.Hash() {
					errs <- errors.Join(errors.New("head block unreadable"), err)
					return
				}
				if head.Number == 0 {
					continue // genesis alone is unsigned
				}
				rc, err := l.ReceiptAt(head.HistorySize - 1)
				if err == nil {
					err = VerifyReceipt(rc, nt.nodes, 3)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, leaves := range batches {
		mustAppend(t, l, nt.next(l, leaves, 1, 2, 3), leaves)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l.Height() != blocks {
		t.Fatalf("height %d, want %d", l.Height(), blocks)
	}
}

// BenchmarkAppend appends blocks of 500 transactions, fsynced, with a
// realistic amount of sealed batch data.
func BenchmarkAppend(b *testing.B) {
	db := diskDB(b, b.TempDir())
	defer db.Close()
	l := openLedger(b, db)
	nt := newNet(4)
	r := rand.New(rand.NewPCG(1, 1))
	mustAppend(b, l, nt.next(l, nil), nil)
	ciphertext := make([]byte, 500*200)
	for i := range ciphertext {
		ciphertext[i] = byte(r.Uint32())
	}
	n := 0
	for b.Loop() {
		n++
		b.StopTimer()
		leaves := txs(r, 500)
		blk := nt.next(l, leaves, 1, 2, 3)
		blk.Batches[0].Ciphertext = ciphertext
		b.StartTimer()
		if err := l.Append(blk, leaves); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*500)/b.Elapsed().Seconds(), "tx/s")
}
