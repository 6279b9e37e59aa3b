package ledger

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cocoledger/coco/core/types"
)

// A ledger reset to a peer's block H (as after a snapshot catch-up) holds
// genesis and H, answers ErrNotFound for the blocks and receipts before H,
// takes the blocks after H, serves verifiable receipts for them, and
// survives a reopen.
func TestResetToSnapshotBlock(t *testing.T) {
	nt := newNet(4)
	r := rand.New(rand.NewPCG(21, 21))

	// The peer's ledger: genesis, then blocks with 1..9 transactions each.
	peerDB := memDB(t)
	peer := openLedger(t, peerDB)
	mustAppend(t, peer, nt.next(peer, nil), nil)
	for range 7 {
		leaves := txs(r, 1+r.IntN(9))
		mustAppend(t, peer, nt.next(peer, leaves, 1, 2, 3), leaves)
	}
	base := mustBlock(t, peer, 7)
	edge, err := peer.Tree().Edge()
	if err != nil {
		t.Fatal(err)
	}
	type appended struct {
		b      *types.Block
		leaves []types.Hash
	}
	var later []appended
	for range 5 {
		leaves := txs(r, 1+r.IntN(9))
		b := nt.next(peer, leaves, 2, 3, 4)
		mustAppend(t, peer, b, leaves)
		later = append(later, appended{b, leaves})
	}

	dir := t.TempDir()
	db := diskDB(t, dir)
	l := openLedger(t, db)
	mustAppend(t, l, mustBlock(t, peer, 0), nil)
	// An edge that does not give the header's root is refused.
	bad := append([]types.Hash(nil), edge...)
	bad[0][0] ^= 1
	if err := l.ResetTo(base, bad); !errors.Is(err, ErrEdge) {
		t.Fatalf("reset with a wrong edge: %v, want ErrEdge", err)
	}
	if err := l.ResetTo(base, edge[1:]); !errors.Is(err, ErrEdge) {
		t.Fatalf("reset with a short edge: %v, want ErrEdge", err)
	}
	if l.Height() != 0 {
		t.Fatalf("a refused reset changed the height to %d", l.Height())
	}
	if err := l.ResetTo(base, edge); err != nil {
		t.Fatal(err)
	}
	check := func(l *Ledger, height uint64) {
		t.Helper()
		if l.Height() != height || l.Base() != 7 {
			t.Fatalf("height %d base %d, want %d and 7", l.Height(), l.Base(), height)
		}
		if l.Tree().Root() != l.Head().HistoryRoot || l.Tree().Size() != l.Head().HistorySize {
			t.Fatalf("tree at %d leaves, root %s; head says %d, %s", l.Tree().Size(), l.Tree().Root(), l.Head().HistorySize, l.Head().HistoryRoot)
		}
		if g := mustBlock(t, l, 0); g.Header.Hash() != mustBlock(t, peer, 0).Header.Hash() {
			t.Fatal("genesis changed across the reset")
		}
		if b := mustBlock(t, l, 7); b.Header.Hash() != base.Header.Hash() || len(b.Signatures) != len(base.Signatures) {
			t.Fatal("block 7 is not the snapshot block")
		}
		for _, n := range []uint64{1, 3, 6} {
			if _, err := l.Block(n); !errors.Is(err, ErrNotFound) {
				t.Fatalf("block %d before the base: %v, want ErrNotFound", n, err)
			}
			if _, err := l.Header(n); !errors.Is(err, ErrNotFound) {
				t.Fatalf("header %d before the base: %v, want ErrNotFound", n, err)
			}
		}
		yields := 0
		for _, err := range l.Blocks(1, height) {
			yields++
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("iterating from block 1: %v, want ErrNotFound", err)
			}
		}
		if yields != 1 {
			t.Fatalf("iterating from block 1 yielded %d times, want one ErrNotFound", yields)
		}
		n := uint64(7)
		for b, err := range l.Blocks(7, height) {
			if err != nil || b.Header.Number != n {
				t.Fatalf("iterating from the base: block %v, err %v, want %d", b, err, n)
			}
			n++
		}
		if n != height+1 {
			t.Fatalf("iterating from the base stopped at %d, want %d", n, height+1)
		}
		if _, err := l.ReceiptAt(0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("receipt of a leaf before the base: %v, want ErrNotFound", err)
		}
	}
	check(l, 7)

	for _, a := range later[:3] {
		mustAppend(t, l, a.b, a.leaves)
	}
	check(l, 10)
	for _, a := range later[:3] {
		for _, tx := range a.leaves {
			rc, err := l.Receipt(tx)
			if err != nil {
				t.Fatalf("receipt in block %d: %v", a.b.Header.Number, err)
			}
			if err := VerifyReceipt(rc, nt.nodes, 3); err != nil {
				t.Fatalf("receipt in block %d: %v", a.b.Header.Number, err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = diskDB(t, dir)
	defer db.Close()
	l = openLedger(t, db)
	check(l, 10)
	for _, a := range later[3:] {
		mustAppend(t, l, a.b, a.leaves)
	}
	check(l, 12)
	if l.Head().Hash() != peer.Head().Hash() || l.Tree().Root() != peer.Tree().Root() {
		t.Fatal("after the same blocks the reset ledger's head or root differs from the peer's")
	}
}

// The edge of a tree reproduces its root at every size, including sizes
// whose rightmost subtree is a single leaf.
func TestEdgeRootMatchesTree(t *testing.T) {
	db := memDB(t)
	tr, err := openTree(db, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	for size := 1; size <= 40; size++ {
		appendTree(t, db, tr, randHash(r))
		edge, err := tr.Edge()
		if err != nil {
			t.Fatal(err)
		}
		root, err := EdgeRoot(tr.Size(), edge)
		if err != nil || root != tr.Root() {
			t.Fatalf("size %d: edge root %s (%v), tree root %s", size, root, err, tr.Root())
		}
	}
}
