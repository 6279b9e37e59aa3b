package batch

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave"
)

// ErrBadOrigin means a sealed batch is not signed by the node it names as
// its origin.
var ErrBadOrigin = errors.New("batch: not signed by its origin")

// VerifyOrigin checks the origin node's signature on a sealed batch.
func VerifyOrigin(sb *types.SealedBatch, originKey ed25519.PublicKey) error {
	if len(originKey) != ed25519.PublicKeySize || !ed25519.Verify(originKey, sb.SigningBytes(), sb.Sig) {
		return fmt.Errorf("%w: batch %d/%d", ErrBadOrigin, sb.Origin, sb.Seq)
	}
	return nil
}

// ErrUnsealable means a sealed batch is not authentic under any ledger
// secret this node holds: forged, corrupted, or sealed with a secret we lack.
var ErrUnsealable = errors.New("batch: cannot unseal")

// Keyring holds the batch keys derived from each generation of the ledger
// secret. New batches are sealed with the newest generation.
type Keyring struct {
	mu      sync.RWMutex
	current uint64
	aeads   map[uint64]cipher.AEAD
}

// NewKeyring starts a keyring with one ledger secret generation.
func NewKeyring(gen uint64, ledgerSecret []byte) (*Keyring, error) {
	k := &Keyring{aeads: map[uint64]cipher.AEAD{}}
	return k, k.Add(gen, ledgerSecret)
}

// Add installs a ledger secret generation and makes it current if newest.
func (k *Keyring) Add(gen uint64, ledgerSecret []byte) error {
	block, err := aes.NewCipher(enclave.DeriveKey(ledgerSecret, "batch"))
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.aeads[gen] = aead
	if gen >= k.current {
		k.current = gen
	}
	return nil
}

// Seal encrypts a batch with the current generation and signs it with the
// origin node's key.
func (k *Keyring) Seal(b *types.Batch, key ed25519.PrivateKey) (*types.SealedBatch, error) {
	k.mu.RLock()
	gen, aead := k.current, k.aeads[k.current]
	k.mu.RUnlock()
	sb := &types.SealedBatch{Origin: b.Origin, Seq: b.Seq, KeyGen: gen}
	private := b
	for i := range b.Txs {
		if types.IsPublic(b.Txs[i].Namespace) {
			sb.Public = append(sb.Public, b.Txs[i])
		}
	}
	if len(sb.Public) > 0 {
		private = &types.Batch{Origin: b.Origin, Seq: b.Seq, Txs: make([]types.Tx, 0, len(b.Txs)-len(sb.Public))}
		for i := range b.Txs {
			if !types.IsPublic(b.Txs[i].Namespace) {
				private.Txs = append(private.Txs, b.Txs[i])
			}
		}
	}
	pt := types.EncodeBatch(private)
	ct := make([]byte, aead.NonceSize(), aead.NonceSize()+len(pt)+aead.Overhead())
	if _, err := rand.Read(ct); err != nil {
		return nil, err
	}
	sb.Ciphertext = aead.Seal(ct, ct, pt, sb.AD())
	sb.Sig = ed25519.Sign(key, sb.SigningBytes())
	return sb, nil
}

// Open decrypts and authenticates a sealed batch. The plaintext's origin and
// sequence must match the authenticated clear ones. The batch's public
// transactions follow its sealed ones; the origin's signature, checked
// before Open, covers them.
func (k *Keyring) Open(sb *types.SealedBatch) (*types.Batch, error) {
	k.mu.RLock()
	aead := k.aeads[sb.KeyGen]
	k.mu.RUnlock()
	if aead == nil {
		return nil, fmt.Errorf("%w: unknown ledger secret generation %d", ErrUnsealable, sb.KeyGen)
	}
	n := aead.NonceSize()
	if len(sb.Ciphertext) < n+aead.Overhead() {
		return nil, fmt.Errorf("%w: short ciphertext", ErrUnsealable)
	}
	pt, err := aead.Open(nil, sb.Ciphertext[:n], sb.Ciphertext[n:], sb.AD())
	if err != nil {
		return nil, fmt.Errorf("%w: batch %d/%d: authentication failed", ErrUnsealable, sb.Origin, sb.Seq)
	}
	b, err := types.DecodeBatch(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsealable, err)
	}
	if b.Origin != sb.Origin || b.Seq != sb.Seq {
		return nil, fmt.Errorf("%w: batch header mismatch", ErrUnsealable)
	}
	for i := range sb.Public {
		if !types.IsPublic(sb.Public[i].Namespace) {
			// An honest origin never puts private data in clear.
			return nil, fmt.Errorf("%w: namespace %q in the public part", ErrUnsealable, sb.Public[i].Namespace)
		}
	}
	b.Txs = append(b.Txs, sb.Public...)
	return b, nil
}
