package ledger

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/cocoledger/coco/core/types"
)

// receiptLedger holds a genesis block with two transactions and three
// blocks signed by nodes 1, 2 and 3 of four.
func receiptLedger(t *testing.T) (*Ledger, *net, []types.Hash) {
	t.Helper()
	l := openLedger(t, memDB(t))
	nt := newNet(4)
	r := rand.New(rand.NewPCG(2, 2))
	genesis := txs(r, 2)
	mustAppend(t, l, nt.next(l, genesis), genesis)
	all := genesis
	for _, n := range []int{5, 0, 9} {
		leaves := txs(r, n)
		mustAppend(t, l, nt.next(l, leaves, 1, 2, 3), leaves)
		all = append(all, leaves...)
	}
	return l, nt, all
}

func TestReceiptsVerify(t *testing.T) {
	l, nt, all := receiptLedger(t)
	for i, tx := range all {
		rc, err := l.Receipt(tx)
		if err != nil {
			t.Fatalf("receipt of tx %d: %v", i, err)
		}
		if rc.Leaf != tx || rc.LeafIndex != uint64(i) {
			t.Fatalf("receipt of tx %d names leaf %d %s", i, rc.LeafIndex, rc.Leaf)
		}
		byIndex, err := l.ReceiptAt(uint64(i))
		if err != nil || !reflect.DeepEqual(byIndex, rc) {
			t.Fatalf("receipt by index %d differs from receipt by hash: %v", i, err)
		}
		if err := VerifyReceipt(rc, nt.nodes, 3); err != nil {
			t.Fatalf("receipt of tx %d: %v", i, err)
		}
	}
	// Genesis is unsigned, so its transactions are proven against block 1.
	rc, _ := l.ReceiptAt(0)
	if rc.Header.Number != 1 {
		t.Errorf("genesis receipt against block %d, want 1", rc.Header.Number)
	}
	rc, _ = l.ReceiptAt(uint64(len(all) - 1))
	if rc.Header.Number != 3 || rc.Header.HistorySize != uint64(len(all)) {
		t.Errorf("last receipt against block %d size %d, want 3 and %d", rc.Header.Number, rc.Header.HistorySize, len(all))
	}
	if _, err := l.Receipt(types.Hash{7}); !errors.Is(err, ErrNotFound) {
		t.Errorf("receipt of an unknown tx: %v, want ErrNotFound", err)
	}
	if _, err := l.ReceiptAt(uint64(len(all))); !errors.Is(err, ErrNotFound) {
		t.Errorf("receipt beyond the tree: %v, want ErrNotFound", err)
	}
}

func TestVerifyReceiptRejects(t *testing.T) {
	l, nt, all := receiptLedger(t)
	fresh := func() *Receipt {
		rc, err := l.Receipt(all[4])
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	outsider := ed25519.NewKeyFromSeed(make([]byte, 32))
	cases := []struct {
		name   string
		edit   func(r *Receipt)
		quorum int
		want   []error
	}{
		{"tampered leaf", func(r *Receipt) { r.Leaf[0] ^= 1 }, 3, []error{ErrInvalidProof}},
		{"tampered index", func(r *Receipt) { r.LeafIndex++ }, 3, []error{ErrInvalidProof}},
		{"tampered proof", func(r *Receipt) { r.Proof[0][5] ^= 1 }, 3, []error{ErrInvalidProof}},
		{"truncated proof", func(r *Receipt) { r.Proof = r.Proof[1:] }, 3, []error{ErrInvalidProof}},
		{"tampered root", func(r *Receipt) { r.Header.HistoryRoot[0] ^= 1 }, 3, []error{ErrInvalidProof}},
		{"tampered header", func(r *Receipt) { r.Header.TimeMs++ }, 3, []error{ErrQuorum, ErrBadSignature}},
		{"too few signatures", func(r *Receipt) { r.Signatures = r.Signatures[:2] }, 3, []error{ErrQuorum}},
		{"quorum above signers", func(r *Receipt) {}, 4, []error{ErrQuorum}},
		{"unknown signer", func(r *Receipt) {
			r.Signatures = append(r.Signatures[:2], types.Signature{Signer: 9, Value: ed25519.Sign(outsider, types.SigningBytes(&r.Header))})
		}, 3, []error{ErrQuorum, ErrUnknownSigner}},
		{"signature by another known node's key", func(r *Receipt) {
			r.Signatures[2] = types.Signature{Signer: 4, Value: r.Signatures[0].Value}
		}, 3, []error{ErrQuorum, ErrBadSignature}},
		{"duplicate signer counted once", func(r *Receipt) {
			r.Signatures = append(r.Signatures[:2], r.Signatures[0], r.Signatures[1])
		}, 3, []error{ErrQuorum}},
	}
	for _, c := range cases {
		rc := fresh()
		c.edit(rc)
		err := VerifyReceipt(rc, nt.nodes, c.quorum)
		for _, want := range c.want {
			if !errors.Is(err, want) {
				t.Errorf("%s: %v, want %v", c.name, err, want)
			}
		}
	}

	// Extra signatures that do not count do not spoil a quorum.
	rc := fresh()
	rc.Signatures = append(rc.Signatures, rc.Signatures[0], types.Signature{Signer: 9, Value: []byte("x")})
	if err := VerifyReceipt(rc, nt.nodes, 3); err != nil {
		t.Errorf("quorum plus noise: %v", err)
	}
	if err := VerifyReceipt(fresh(), nt.nodes, 0); err == nil {
		t.Error("quorum 0 accepted")
	}
	if err := VerifyReceipt(nil, nt.nodes, 1); err == nil {
		t.Error("nil receipt accepted")
	}
	bad := map[uint64]ed25519.PublicKey{1: nt.nodes[1][:5], 2: nt.nodes[2], 3: nt.nodes[3]}
	if err := VerifyReceipt(fresh(), bad, 3); !errors.Is(err, ErrBadSignature) {
		t.Errorf("short public key: %v, want ErrBadSignature", err)
	}
}

func TestReceiptJSON(t *testing.T) {
	l, nt, all := receiptLedger(t)
	rc, err := l.Receipt(all[6])
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"history_root":"`+rc.Header.HistoryRoot.String()+`"`) ||
		!strings.Contains(string(data), `"leaf":"`+all[6].String()+`"`) {
		t.Errorf("JSON does not spell hashes in hex: %s", data)
	}
	if byValue, _ := json.Marshal(*rc); string(byValue) != string(data) {
		t.Error("a Receipt value marshals differently from a pointer")
	}
	var back Receipt
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Header.Hash() != rc.Header.Hash() || back.Leaf != rc.Leaf || back.LeafIndex != rc.LeafIndex ||
		!reflect.DeepEqual(back.Proof, rc.Proof) || !reflect.DeepEqual(back.Signatures, rc.Signatures) {
		t.Fatalf("JSON round trip changed the receipt:\n%+v\n%+v", back, *rc)
	}
	if err := VerifyReceipt(&back, nt.nodes, 3); err != nil {
		t.Fatalf("receipt from JSON: %v", err)
	}

	short := strings.Replace(string(data), rc.Leaf.String(), "abcd", 1)
	if err := json.Unmarshal([]byte(short), &back); err == nil || !strings.Contains(err.Error(), "leaf") {
		t.Errorf("short leaf: %v, want an error naming the leaf", err)
	}
	if err := json.Unmarshal([]byte(`{"leaf":"zz"}`), &back); err == nil {
		t.Error("non-hex leaf accepted")
	}
}

// The JSON form lists the header's fields by hand; a new field would be
// dropped and every receipt's signatures would stop verifying.
func TestReceiptJSONCoversHeader(t *testing.T) {
	want := []string{"Number", "PrevHash", "TimeMs", "BatchesHash", "HistorySize", "HistoryRoot", "PrevStateRoots", "Recovery"}
	ht := reflect.TypeFor[types.Header]()
	var got []string
	for i := range ht.NumField() {
		got = append(got, ht.Field(i).Name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("types.Header fields are %v; update headerJSON in receipt.go, then this list", got)
	}
}
