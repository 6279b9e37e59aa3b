package ledger

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cocoledger/coco/core/types"
)

// naiveRoot is RFC 9162's MTH, recomputed from all leaf hashes.
func naiveRoot(hs []types.Hash) types.Hash {
	switch len(hs) {
	case 0:
		return EmptyRoot
	case 1:
		return hs[0]
	}
	k := splitPointNaive(len(hs))
	return NodeHash(naiveRoot(hs[:k]), naiveRoot(hs[k:]))
}

// naivePath is RFC 9162's PATH(m, D[n]).
func naivePath(m int, hs []types.Hash) []types.Hash {
	if len(hs) <= 1 {
		return nil
	}
	k := splitPointNaive(len(hs))
	if m < k {
		return append(naivePath(m, hs[:k]), naiveRoot(hs[k:]))
	}
	return append(naivePath(m-k, hs[k:]), naiveRoot(hs[:k]))
}

func splitPointNaive(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

func leafHashes(leaves []types.Hash) []types.Hash {
	hs := make([]types.Hash, len(leaves))
	for i := range leaves {
		hs[i] = LeafHash(leaves[i][:])
	}
	return hs
}

func memDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// quiet keeps Pebble's informational lines out of test output.
type quiet struct{}

func (quiet) Infof(string, ...any)         {}
func (quiet) Errorf(f string, args ...any) { fmt.Fprintf(os.Stderr, f+"\n", args...) }
func (quiet) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

func appendTree(t testing.TB, db *pebble.DB, tr *Tree, leaves ...types.Hash) {
	t.Helper()
	st := tr.Stage(leaves...)
	b := db.NewBatch()
	defer b.Close()
	if err := st.write(b); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := tr.commit(st); err != nil {
		t.Fatal(err)
	}
}

func randHash(r *rand.Rand) types.Hash {
	var h types.Hash
	for i := 0; i < len(h); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			h[i+j] = byte(v >> (8 * j))
		}
	}
	return h
}

func mustHex(t *testing.T, s string) types.Hash {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hex %q", s)
	}
	return types.Hash(b)
}

// The reference roots of RFC 6962's test leaves (as published with
// Certificate Transparency's implementations) pin the hashing scheme that
// the naive model, and so the tree, is checked against.
func TestHashingMatchesRFC6962Vectors(t *testing.T) {
	leaves := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	roots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	if want := mustHex(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"); EmptyRoot != want {
		t.Fatalf("empty root %s, want %s", EmptyRoot, want)
	}
	var hs []types.Hash
	for i, l := range leaves {
		data, _ := hex.DecodeString(l)
		hs = append(hs, LeafHash(data))
		if got, want := naiveRoot(hs), mustHex(t, roots[i]); got != want {
			t.Errorf("root of %d leaves %s, want %s", i+1, got, want)
		}
	}
}

func TestTreeMatchesNaiveModel(t *testing.T) {
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 42))
		db := memDB(t)
		tr, err := openTree(db, 0)
		if err != nil {
			t.Fatal(err)
		}
		var leaves []types.Hash
		for len(leaves) < 700 {
			chunk := make([]types.Hash, r.IntN(60))
			for i := range chunk {
				chunk[i] = randHash(r)
			}
			before := tr.Root()
			st := tr.Stage(chunk...)
			leaves = append(leaves, chunk...)
			hs := leafHashes(leaves)
			if st.Size() != uint64(len(leaves)) || st.Root() != naiveRoot(hs) {
				t.Fatalf("seed %d: staged size %d root %s, want %d %s", seed, st.Size(), st.Root(), len(leaves), naiveRoot(hs))
			}
			if tr.Root() != before || tr.Size() != uint64(len(leaves)-len(chunk)) {
				t.Fatalf("seed %d: staging changed the tree", seed)
			}
			appendTree(t, db, tr, chunk...)
			if tr.Root() != naiveRoot(hs) {
				t.Fatalf("seed %d: root after append differs from the model", seed)
			}

			for range 20 {
				n := 1 + r.IntN(len(hs))
				got, err := tr.RootAt(uint64(n))
				if err != nil || got != naiveRoot(hs[:n]) {
					t.Fatalf("seed %d: RootAt(%d) = %s, %v; want %s", seed, n, got, err, naiveRoot(hs[:n]))
				}
				i := r.IntN(n)
				checkProof(t, tr, leaves, hs, i, n)
			}
			reopened, err := openTree(db, tr.Size())
			if err != nil || reopened.Root() != tr.Root() {
				t.Fatalf("seed %d: reopened tree root %s, %v; want %s", seed, reopened.Root(), err, tr.Root())
			}
		}
	}
}

func TestTreeEveryProofSmallSizes(t *testing.T) {
	db := memDB(t)
	tr, _ := openTree(db, 0)
	r := rand.New(rand.NewPCG(7, 7))
	var leaves []types.Hash
	for range 70 {
		leaves = append(leaves, randHash(r))
		appendTree(t, db, tr, leaves[len(leaves)-1])
	}
	hs := leafHashes(leaves)
	for n := 1; n <= len(leaves); n++ {
		if got, _ := tr.RootAt(uint64(n)); got != naiveRoot(hs[:n]) {
			t.Fatalf("RootAt(%d) differs from the model", n)
		}
		for i := range n {
			checkProof(t, tr, leaves, hs, i, n)
		}
	}
	if got, _ := tr.RootAt(0); got != EmptyRoot {
		t.Fatalf("RootAt(0) = %s, want the empty root", got)
	}
}

func checkProof(t *testing.T, tr *Tree, leaves, hs []types.Hash, i, n int) {
	t.Helper()
	proof, err := tr.InclusionProof(uint64(i), uint64(n))
	if err != nil {
		t.Fatalf("proof %d/%d: %v", i, n, err)
	}
	want := naivePath(i, hs[:n])
	if len(proof) != len(want) {
		t.Fatalf("proof %d/%d has %d hashes, want %d", i, n, len(proof), len(want))
	}
	for k := range proof {
		if proof[k] != want[k] {
			t.Fatalf("proof %d/%d differs from the model at %d", i, n, k)
		}
	}
	if err := VerifyInclusion(leaves[i], uint64(i), uint64(n), proof, naiveRoot(hs[:n])); err != nil {
		t.Fatalf("proof %d/%d does not verify: %v", i, n, err)
	}
	if err := VerifyInclusionHash(hs[i], uint64(i), uint64(n), proof, naiveRoot(hs[:n])); err != nil {
		t.Fatalf("proof %d/%d does not verify by leaf hash: %v", i, n, err)
	}
}

func TestVerifyInclusionRejectsTampering(t *testing.T) {
	db := memDB(t)
	tr, _ := openTree(db, 0)
	r := rand.New(rand.NewPCG(1, 2))
	var leaves []types.Hash
	for range 21 {
		leaves = append(leaves, randHash(r))
	}
	appendTree(t, db, tr, leaves...)
	root := tr.Root()
	const i, n = 12, 21
	proof, err := tr.InclusionProof(i, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyInclusion(leaves[i], i, n, proof, root); err != nil {
		t.Fatalf("valid proof rejected: %v", err)
	}
	flipped := append([]types.Hash(nil), proof...)
	flipped[1][0] ^= 1
	cases := map[string]error{
		"other leaf":  VerifyInclusion(leaves[i+1], i, n, proof, root),
		"other index": VerifyInclusion(leaves[i], i+1, n, proof, root),
		// The proof's shape binds the size only where the path changes:
		// leaf 20 is alone on the right of 21 leaves, paired in 22.
		"other size":   VerifyInclusion(leaves[20], 20, n+1, mustProof(t, tr, 20, n), root),
		"other root":   VerifyInclusion(leaves[i], i, n, proof, leaves[0]),
		"flipped hash": VerifyInclusion(leaves[i], i, n, flipped, root),
		"short proof":  VerifyInclusion(leaves[i], i, n, proof[:len(proof)-1], root),
		"long proof":   VerifyInclusion(leaves[i], i, n, append(proof, root), root),
		"index ≥ size": VerifyInclusion(leaves[i], n, n, proof, root),
	}
	for name, err := range cases {
		if !errors.Is(err, ErrInvalidProof) {
			t.Errorf("%s: got %v, want ErrInvalidProof", name, err)
		}
	}
}

func TestTreeRangeErrors(t *testing.T) {
	db := memDB(t)
	tr, _ := openTree(db, 0)
	appendTree(t, db, tr, types.Hash{1}, types.Hash{2}, types.Hash{3})
	if _, err := tr.RootAt(4); !errors.Is(err, ErrNotFound) {
		t.Errorf("RootAt beyond size: %v, want ErrNotFound", err)
	}
	if _, err := tr.InclusionProof(1, 4); !errors.Is(err, ErrNotFound) {
		t.Errorf("proof in a future size: %v, want ErrNotFound", err)
	}
	if _, err := tr.InclusionProof(3, 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("proof of a missing leaf: %v, want ErrNotFound", err)
	}
	if leaf, err := tr.Leaf(2); err != nil || leaf != (types.Hash{3}) {
		t.Errorf("Leaf(2) = %s, %v; want the third leaf", leaf, err)
	}
	if _, err := tr.Leaf(3); !errors.Is(err, ErrNotFound) {
		t.Errorf("Leaf beyond size: %v, want ErrNotFound", err)
	}
	// A stage taken before another append cannot be committed over it.
	stale := tr.Stage(types.Hash{9})
	appendTree(t, db, tr, types.Hash{4})
	if err := tr.commit(stale); err == nil {
		t.Error("stale stage committed")
	}
}

func mustProof(t *testing.T, tr *Tree, i, n uint64) []types.Hash {
	t.Helper()
	p, err := tr.InclusionProof(i, n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
