package enclave

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// Sentinel errors callers branch on.
var (
	// ErrUnsealFailed means sealed data was tampered with or sealed by another enclave.
	ErrUnsealFailed = errors.New("enclave: unseal failed")
	// ErrEvidence means attestation evidence did not verify.
	ErrEvidence = errors.New("enclave: evidence rejected")
	// ErrMeasurementNotAllowed means evidence is valid but its code is not approved.
	ErrMeasurementNotAllowed = errors.New("enclave: measurement not allowed")
)

// Evidence binds report data (typically the hash of a node's public key) to
// the measurement of the code that produced it.
type Evidence struct {
	Platform    string `json:"platform"` // "virtual" or "sgx"
	Measurement []byte `json:"measurement"`
	ReportData  []byte `json:"report_data"`
	// Report is the platform's signed report: an SGX quote, or the virtual
	// enclave's software signature.
	Report []byte `json:"report"`
	// PlatformKey identifies the software signer of a virtual report; empty for hardware.
	PlatformKey []byte `json:"platform_key,omitempty"`
}

// Attester produces evidence from inside the enclave.
type Attester interface {
	Attest(reportData []byte) (*Evidence, error)
	Measurement() []byte
}

// Verifier checks evidence produced by an Attester of the same platform.
type Verifier interface {
	// Verify returns an error wrapping ErrEvidence or
	// ErrMeasurementNotAllowed; allowed lists the approved measurements
	// (nil allows any, for bootstrap).
	Verify(ev *Evidence, allowed [][]byte) error
}

// Sealer encrypts data so that only the same enclave on the same machine
// can decrypt it.
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Unseal(sealed, ad []byte) ([]byte, error)
}

// Enclave is one running enclave.
type Enclave interface {
	Attester
	Verifier
	Sealer
	// Hardware reports whether a TEE protects this enclave. The virtual
	// enclave returns false, and everything that prints status says so.
	Hardware() bool
	Platform() string
}

// DeriveKey derives a 32-byte key for purpose from secret (HKDF-SHA256).
// Distinct purposes give independent keys, so one secret can protect state,
// batches and the ledger without key reuse.
func DeriveKey(secret []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "coco/"+purpose, 32)
	if err != nil {
		panic(err) // only fails for lengths over 255*32
	}
	return k
}

// KeySealer seals with AES-256-GCM under a key derived from an enclave's
// root sealing key; each implementation supplies the root.
type KeySealer struct{ aead cipher.AEAD }

// NewKeySealer derives the sealing key for purpose from root.
func NewKeySealer(root []byte, purpose string) (*KeySealer, error) {
	block, err := aes.NewCipher(DeriveKey(root, purpose))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &KeySealer{aead: aead}, nil
}

// Seal encrypts with a random nonce; ad is authenticated, not encrypted.
func (s *KeySealer) Seal(plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, ad), nil
}

// Unseal decrypts what Seal produced, or fails with ErrUnsealFailed.
func (s *KeySealer) Unseal(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrUnsealFailed
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrUnsealFailed
	}
	return pt, nil
}
