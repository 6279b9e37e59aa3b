package ledger

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoledger/coco/core/types"
)

// Errors VerifyReceipt reports. A quorum failure also wraps ErrUnknownSigner
// or ErrBadSignature when signatures were discarded for those reasons.
var (
	ErrQuorum        = errors.New("not enough valid signatures")
	ErrUnknownSigner = errors.New("signature by unknown node")
	ErrBadSignature  = errors.New("bad signature")
)

// Receipt proves that a transaction is in the ledger: the leaf (the
// transaction's hash), its inclusion proof up to the header's HistoryRoot,
// and the consensus nodes' signatures over that header. It is checked
// offline with VerifyReceipt and the network's node keys alone.
type Receipt struct {
	Header     types.Header
	Signatures []types.Signature
	LeafIndex  uint64
	Leaf       types.Hash
	Proof      []types.Hash
}

// Receipt returns the receipt of the transaction with hash tx. If the same
// hash was appended more than once, the receipt is for the latest.
func (l *Ledger) Receipt(tx types.Hash) (*Receipt, error) {
	v, closer, err := l.db.Get(txKey(tx))
	if err != nil {
		return nil, fmt.Errorf("receipt of %s: %w", tx, notFound(err))
	}
	if len(v) != 8 {
		closer.Close()
		return nil, fmt.Errorf("receipt of %s: leaf index has %d bytes: %w", tx, len(v), ErrCorrupt)
	}
	idx := binary.BigEndian.Uint64(v)
	closer.Close()
	return l.ReceiptAt(idx)
}

// ReceiptAt returns the receipt of leaf index. The proof is against the
// header of the block holding the leaf or, when that block carries no
// signatures (genesis), the first later block that does.
func (l *Ledger) ReceiptAt(index uint64) (*Receipt, error) {
	head := l.Head()
	if head == nil || index >= head.HistorySize {
		return nil, fmt.Errorf("receipt of leaf %d: %w", index, ErrNotFound)
	}
	l.mu.RLock()
	baseSize := l.baseSize
	l.mu.RUnlock()
	if index < baseSize {
		// Its block is before the snapshot this ledger started from.
		return nil, fmt.Errorf("receipt of leaf %d: before the ledger's snapshot base: %w", index, ErrNotFound)
	}
	n, err := l.blockOfLeaf(index)
	if err != nil {
		return nil, fmt.Errorf("receipt of leaf %d: %w", index, err)
	}
	s, err := l.signedFrom(n, head.Number)
	if err != nil {
		return nil, fmt.Errorf("receipt of leaf %d: %w", index, err)
	}
	leaf, err := l.tree.Leaf(index)
	if err != nil {
		return nil, fmt.Errorf("receipt of leaf %d: %w", index, err)
	}
	proof, err := l.tree.InclusionProof(index, s.Header.HistorySize)
	if err != nil {
		return nil, fmt.Errorf("receipt of leaf %d: %w", index, err)
	}
	return &Receipt{Header: s.Header, Signatures: s.Signatures, LeafIndex: index, Leaf: leaf, Proof: proof}, nil
}

// blockOfLeaf finds the block holding leaf index: the first block whose
// history ends after it.
func (l *Ledger) blockOfLeaf(index uint64) (uint64, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: numKey(prefixEnd, index+1),
		UpperBound: prefixLimit(prefixEnd),
	})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.First() {
		if err := it.Error(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("no block ends after leaf %d: %w", index, ErrCorrupt)
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("leaf index entry has %d bytes: %w", len(v), ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v), nil
}

// signedFrom returns the first block header from n up to last that carries
// signatures, or block n's if none does.
func (l *Ledger) signedFrom(n, last uint64) (*sealed, error) {
	first, err := l.sealedAt(n)
	if err != nil || len(first.Signatures) > 0 {
		return first, err
	}
	for m := n + 1; m <= last; m++ {
		s, err := l.sealedAt(m)
		if err != nil {
			return nil, err
		}
		if len(s.Signatures) > 0 {
			return s, nil
		}
	}
	return first, nil
}

// VerifyReceipt checks r offline: that r.Proof leads from r.Leaf to
// r.Header.HistoryRoot, and that at least quorum distinct nodes among nodes
// (consensus id → public key) signed types.SigningBytes(&r.Header).
// Signatures by nodes not in nodes, bad signatures and repeated signers
// do not count. It does not check that r.Leaf is the transaction the caller
// has in mind: compare it with the transaction's hash.
func VerifyReceipt(r *Receipt, nodes map[uint64]ed25519.PublicKey, quorum int) error {
	if r == nil {
		return errors.New("verify receipt: no receipt")
	}
	if quorum < 1 {
		return fmt.Errorf("verify receipt: quorum %d, must be at least 1", quorum)
	}
	if err := VerifyInclusion(r.Leaf, r.LeafIndex, r.Header.HistorySize, r.Proof, r.Header.HistoryRoot); err != nil {
		return fmt.Errorf("verify receipt of leaf %d in block %d: %w", r.LeafIndex, r.Header.Number, err)
	}
	msg := types.SigningBytes(&r.Header)
	valid := make(map[uint64]bool, len(r.Signatures))
	var unknown, bad []uint64
	for _, sig := range r.Signatures {
		if valid[sig.Signer] {
			continue
		}
		pub, ok := nodes[sig.Signer]
		if !ok {
			unknown = append(unknown, sig.Signer)
			continue
		}
		// ed25519.Verify panics on a key of the wrong length.
		if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, msg, sig.Value) {
			bad = append(bad, sig.Signer)
			continue
		}
		valid[sig.Signer] = true
	}
	if len(valid) >= quorum {
		return nil
	}
	err := fmt.Errorf("%w: block %d has %d valid of %d required", ErrQuorum, r.Header.Number, len(valid), quorum)
	if len(unknown) > 0 {
		err = fmt.Errorf("%w; %w: %s", err, ErrUnknownSigner, ids(unknown))
	}
	if len(bad) > 0 {
		err = fmt.Errorf("%w; %w from %s", err, ErrBadSignature, ids(bad))
	}
	return fmt.Errorf("verify receipt: %w", err)
}

func ids(xs []uint64) string {
	xs = slices.Compact(slices.Sorted(slices.Values(xs)))
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return "node " + strings.Join(s, ", ")
}

// The JSON form spells hashes and signatures in hex. It lists the header's
// fields one by one; TestReceiptJSONCoversHeader fails when types.Header
// gains a field this form does not carry.
type (
	receiptJSON struct {
		Header     headerJSON      `json:"header"`
		Signatures []signatureJSON `json:"signatures"`
		LeafIndex  uint64          `json:"leaf_index"`
		Leaf       hexBytes        `json:"leaf"`
		Proof      []hexBytes      `json:"proof"`
	}
	headerJSON struct {
		Number         uint64     `json:"number"`
		PrevHash       hexBytes   `json:"prev_hash"`
		TimeMs         uint64     `json:"time_ms"`
		BatchesHash    hexBytes   `json:"batches_hash"`
		HistorySize    uint64     `json:"history_size"`
		HistoryRoot    hexBytes   `json:"history_root"`
		PrevStateRoots []rootJSON `json:"prev_state_roots"`
		Recovery       bool       `json:"recovery,omitempty"`
	}
	rootJSON struct {
		Namespace string   `json:"namespace"`
		Root      hexBytes `json:"root"`
	}
	signatureJSON struct {
		Signer uint64   `json:"signer"`
		Value  hexBytes `json:"value"`
		Msg    hexBytes `json:"msg,omitempty"`
	}
	hexBytes []byte
)

func (b hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(b)), nil }

func (b *hexBytes) UnmarshalText(text []byte) error {
	v, err := hex.DecodeString(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

func hash(b hexBytes, field string) (types.Hash, error) {
	if len(b) != len(types.Hash{}) {
		return types.Hash{}, fmt.Errorf("receipt: %s has %d bytes, want %d", field, len(b), len(types.Hash{}))
	}
	return types.Hash(b), nil
}

// MarshalJSON encodes the receipt with hex hashes.
func (r Receipt) MarshalJSON() ([]byte, error) {
	h := &r.Header
	j := receiptJSON{
		Header: headerJSON{
			Number:      h.Number,
			PrevHash:    h.PrevHash[:],
			TimeMs:      h.TimeMs,
			BatchesHash: h.BatchesHash[:],
			HistorySize: h.HistorySize,
			HistoryRoot: h.HistoryRoot[:],
			Recovery:    h.Recovery,
		},
		Signatures: make([]signatureJSON, len(r.Signatures)),
		LeafIndex:  r.LeafIndex,
		Leaf:       r.Leaf[:],
		Proof:      make([]hexBytes, len(r.Proof)),
	}
	for _, root := range h.PrevStateRoots {
		j.Header.PrevStateRoots = append(j.Header.PrevStateRoots, rootJSON{root.Namespace, root.Root[:]})
	}
	for i, s := range r.Signatures {
		j.Signatures[i] = signatureJSON{s.Signer, s.Value, s.Msg}
	}
	for i := range r.Proof {
		j.Proof[i] = r.Proof[i][:]
	}
	return json.Marshal(&j)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (r *Receipt) UnmarshalJSON(data []byte) error {
	var j receiptJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	var out Receipt
	var err error
	h := &out.Header
	h.Number, h.TimeMs, h.HistorySize, h.Recovery = j.Header.Number, j.Header.TimeMs, j.Header.HistorySize, j.Header.Recovery
	if h.PrevHash, err = hash(j.Header.PrevHash, "prev_hash"); err != nil {
		return err
	}
	if h.BatchesHash, err = hash(j.Header.BatchesHash, "batches_hash"); err != nil {
		return err
	}
	if h.HistoryRoot, err = hash(j.Header.HistoryRoot, "history_root"); err != nil {
		return err
	}
	for _, root := range j.Header.PrevStateRoots {
		rh, err := hash(root.Root, "prev_state_roots root")
		if err != nil {
			return err
		}
		h.PrevStateRoots = append(h.PrevStateRoots, types.Root{Namespace: root.Namespace, Root: rh})
	}
	for _, s := range j.Signatures {
		out.Signatures = append(out.Signatures, types.Signature{Signer: s.Signer, Value: s.Value, Msg: s.Msg})
	}
	out.LeafIndex = j.LeafIndex
	if out.Leaf, err = hash(j.Leaf, "leaf"); err != nil {
		return err
	}
	for i, p := range j.Proof {
		ph, err := hash(p, fmt.Sprintf("proof[%d]", i))
		if err != nil {
			return err
		}
		out.Proof = append(out.Proof, ph)
	}
	*r = out
	return nil
}
