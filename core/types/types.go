package types

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/rlp"
)

// Hash is a SHA-256 digest.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Sum hashes data with SHA-256.
func Sum(data ...[]byte) Hash {
	d := sha256.New()
	for _, b := range data {
		d.Write(b)
	}
	var h Hash
	d.Sum(h[:0])
	return h
}

// ErrMalformed marks bytes that do not decode into the expected structure.
var ErrMalformed = errors.New("malformed encoding")

// Tx is one client transaction as the core sees it. The core never looks
// inside Payload; the application registered for Namespace does.
type Tx struct {
	Namespace string
	Payload   []byte
	// Sender is the identity the ingress enclave verified (an Ethereum
	// address, a certificate hash). Replicas trust it only in the tee trust
	// model, or when the batch came from their own ingress.
	Sender []byte
}

// Hash identifies the transaction: it is the leaf the ledger's history tree
// commits to.
func (t *Tx) Hash() Hash { return Sum([]byte(t.Namespace), []byte{0}, t.Payload) }

// GovNamespace is the namespace of governance requests.
const GovNamespace = "gov"

// IsPublic reports whether a namespace's transactions travel and are stored
// in clear: governance is public and signed so that every member and
// auditor can check each step from the ledger alone.
func IsPublic(namespace string) bool { return namespace == GovNamespace }

// Batch is a plaintext batch of transactions built by one node's batcher.
// It exists only inside the enclave; outside it travels as a SealedBatch.
type Batch struct {
	Origin uint64 // consensus id of the node that built it
	Seq    uint64 // per-origin sequence number, starts at 1
	Txs    []Tx
}

// SealedBatch is a Batch encrypted with the ledger secret. Origin and Seq are
// in clear (they are the SmartBFT client and request id) and authenticated as
// additional data.
type SealedBatch struct {
	Origin     uint64
	Seq        uint64
	KeyGen     uint64 // generation of the ledger secret that sealed it
	Ciphertext []byte // nonce || AES-256-GCM ciphertext
	// Public are the batch's transactions of public namespaces (see
	// IsPublic), in clear so that anyone holding the ledger can audit them.
	// They follow the sealed ones in ledger order.
	Public []Tx
	// Sig is the origin node's ed25519 signature over SigningBytes: every
	// node holds the ledger secret, so the seal alone cannot tell which
	// node built a batch.
	Sig []byte
}

// SigningBytes is what the origin node signs.
func (b *SealedBatch) SigningBytes() []byte {
	pub, _ := rlp.EncodeToBytes(b.Public)
	h := Sum(b.AD(), b.Ciphertext, pub)
	return append([]byte("coco/batch/v1:"), h[:]...)
}

// ID is the batch's SmartBFT request id.
func (b *SealedBatch) ID() string { return fmt.Sprintf("%d", b.Seq) }

// ClientID is the batch's SmartBFT client id.
func (b *SealedBatch) ClientID() string { return fmt.Sprintf("%d", b.Origin) }

// AD returns the additional authenticated data binding the ciphertext to its
// position.
func (b *SealedBatch) AD() []byte {
	ad, _ := rlp.EncodeToBytes([]uint64{b.Origin, b.Seq, b.KeyGen})
	return ad
}

// Root is the state root an application reports for its namespace.
type Root struct {
	Namespace string
	Root      Hash
}

// Header is the part of a block that consensus signs. It is public.
type Header struct {
	Number   uint64
	PrevHash Hash
	TimeMs   uint64 // leader's clock, strictly increasing
	// BatchesHash commits to the sealed batches in the block.
	BatchesHash Hash
	// History is the Merkle history tree over every transaction up to and
	// including this block.
	HistorySize uint64
	HistoryRoot Hash
	// PrevStateRoots are the application state roots after the previous
	// block, so a replica that diverged is detected one block later.
	PrevStateRoots []Root
	// Recovery marks the block with which a node restored a network whose
	// nodes were all lost: signed by that node alone, valid because it
	// carries the recovery votes of enough members (core/gov). Consensus
	// never proposes or signs one.
	Recovery bool `rlp:"optional"`
}

// Encode returns the header's canonical encoding.
func (h *Header) Encode() []byte {
	b, err := rlp.EncodeToBytes(h)
	if err != nil {
		panic(err) // only plain fields: cannot fail
	}
	return b
}

// Hash is the block hash: SHA-256 of the canonical header encoding.
func (h *Header) Hash() Hash { return Sum(h.Encode()) }

// DecodeHeader parses a canonical header encoding.
func DecodeHeader(b []byte) (*Header, error) {
	var h Header
	if err := rlp.DecodeBytes(b, &h); err != nil {
		return nil, fmt.Errorf("header: %w: %v", ErrMalformed, err)
	}
	return &h, nil
}

// Signature is one consensus node's signature over a decided proposal.
type Signature struct {
	Signer uint64
	Value  []byte
	Msg    []byte
}

// Block is a decided block: header, sealed batches, the consensus metadata
// it was decided under and the signatures of the nodes that decided it.
type Block struct {
	Header     Header
	Batches    []SealedBatch
	Metadata   []byte // SmartBFT view metadata of the decision
	Signatures []Signature
}

// Encode returns the block's canonical encoding.
func (b *Block) Encode() []byte {
	enc, err := rlp.EncodeToBytes(b)
	if err != nil {
		panic(err)
	}
	return enc
}

// DecodeBlock parses a canonical block encoding.
func DecodeBlock(data []byte) (*Block, error) {
	var b Block
	if err := rlp.DecodeBytes(data, &b); err != nil {
		return nil, fmt.Errorf("block: %w: %v", ErrMalformed, err)
	}
	return &b, nil
}

// EncodeBatches is the proposal payload: the ordered list of sealed batches.
func EncodeBatches(bs []SealedBatch) []byte {
	enc, err := rlp.EncodeToBytes(bs)
	if err != nil {
		panic(err)
	}
	return enc
}

// DecodeBatches parses a proposal payload.
func DecodeBatches(data []byte) ([]SealedBatch, error) {
	var bs []SealedBatch
	if err := rlp.DecodeBytes(data, &bs); err != nil {
		return nil, fmt.Errorf("batches: %w: %v", ErrMalformed, err)
	}
	return bs, nil
}

// EncodeSealedBatch is the SmartBFT request encoding of a sealed batch.
func EncodeSealedBatch(b *SealedBatch) []byte {
	enc, err := rlp.EncodeToBytes(b)
	if err != nil {
		panic(err)
	}
	return enc
}

// DecodeSealedBatch parses a SmartBFT request.
func DecodeSealedBatch(data []byte) (*SealedBatch, error) {
	var b SealedBatch
	if err := rlp.DecodeBytes(data, &b); err != nil {
		return nil, fmt.Errorf("sealed batch: %w: %v", ErrMalformed, err)
	}
	return &b, nil
}

// EncodeBatch encodes a plaintext batch (to be sealed).
func EncodeBatch(b *Batch) []byte {
	enc, err := rlp.EncodeToBytes(b)
	if err != nil {
		panic(err)
	}
	return enc
}

// DecodeBatch parses a plaintext batch.
func DecodeBatch(data []byte) (*Batch, error) {
	var b Batch
	if err := rlp.DecodeBytes(data, &b); err != nil {
		return nil, fmt.Errorf("batch: %w: %v", ErrMalformed, err)
	}
	return &b, nil
}

// SigningBytes is what a consensus node signs to decide a block. The header
// commits to the batches (BatchesHash) and to every transaction so far
// (HistoryRoot), so a header with a quorum of these signatures is a signed
// root that receipts are checked against offline.
func SigningBytes(h *Header) []byte {
	hash := h.Hash()
	return append([]byte("coco/block/v1:"), hash[:]...)
}
