package node

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cocoledger/coco/core/durable"
	"github.com/cocoledger/coco/enclave"
)

// Identity is the node's key and secret. They exist in plaintext only in
// enclave memory; on disk they are sealed to the enclave.
type Identity struct {
	Key        ed25519.PrivateKey
	NodeSecret []byte // root of this node's at-rest keys
}

// ErrNoIdentity means the data directory holds no node identity: run
// `coco node init` first.
var ErrNoIdentity = errors.New("no node identity in data directory (run `coco node init`)")

const (
	keyFile          = "node.key.sealed"
	nodeSecretFile   = "node.secret.sealed"
	ledgerSecretFile = "ledger.secret.sealed"
)

// PublicKey is the node's ed25519 public key.
func (id *Identity) PublicKey() ed25519.PublicKey { return id.Key.Public().(ed25519.PublicKey) }

// NodeID is the network-wide identity of a node: SHA-256 of its public key.
func (id *Identity) NodeID() string {
	h := sha256.Sum256(id.PublicKey())
	return hex.EncodeToString(h[:])
}

// hpkeSuite is how secrets are encrypted to a node: HPKE with X25519,
// HKDF-SHA256 and AES-256-GCM (RFC 9180).
var hpkeKEM = hpke.DHKEM(ecdh.X25519())

// EncryptionKey is the node's HPKE key pair, derived from its signing key so
// that one sealed seed is the whole identity.
func (id *Identity) EncryptionKey() hpke.PrivateKey {
	k, err := hpkeKEM.DeriveKeyPair(enclave.DeriveKey(id.Key.Seed(), "node/encryption"))
	if err != nil {
		panic(fmt.Sprintf("derive encryption key: %v", err)) // only fails on short input
	}
	return k
}

// EncryptionPublicKey is the public half of EncryptionKey, as published in
// the node's info and the genesis file.
func (id *Identity) EncryptionPublicKey() []byte { return id.EncryptionKey().PublicKey().Bytes() }

// Info is what a node publishes about itself: the input to genesis.
type Info struct {
	NodeID        string            `json:"node_id"`
	PublicKey     HexBytes          `json:"public_key"`
	EncryptionKey HexBytes          `json:"encryption_key"`
	Evidence      *enclave.Evidence `json:"evidence"`
}

// reportData binds attestation evidence to both of a node's public keys.
func reportData(pub, enc []byte) []byte {
	h := sha256.New()
	h.Write([]byte("coco/node-keys/v1"))
	h.Write(pub)
	h.Write(enc)
	return h.Sum(nil)
}

// Info produces the node's signed attestation evidence over its keys.
func (id *Identity) Info(att enclave.Attester) (*Info, error) {
	enc := id.EncryptionPublicKey()
	ev, err := att.Attest(reportData(id.PublicKey(), enc))
	if err != nil {
		return nil, fmt.Errorf("attest node keys: %w", err)
	}
	return &Info{NodeID: id.NodeID(), PublicKey: HexBytes(id.PublicKey()), EncryptionKey: enc, Evidence: ev}, nil
}

// Verify checks that the evidence binds these keys and comes from allowed code.
func (info *Info) Verify(v enclave.Verifier, allowed [][]byte) error {
	if len(info.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("node %s: public key has %d bytes", info.NodeID, len(info.PublicKey))
	}
	h := sha256.Sum256(info.PublicKey)
	if hex.EncodeToString(h[:]) != info.NodeID {
		return fmt.Errorf("node %s: node id is not the hash of its public key", info.NodeID)
	}
	if info.Evidence == nil {
		return fmt.Errorf("node %s: %w: none", info.NodeID, enclave.ErrEvidence)
	}
	if string(info.Evidence.ReportData) != string(reportData(info.PublicKey, info.EncryptionKey)) {
		return fmt.Errorf("node %s: %w: evidence is not about these keys", info.NodeID, enclave.ErrEvidence)
	}
	if err := v.Verify(info.Evidence, allowed); err != nil {
		return fmt.Errorf("node %s: %w", info.NodeID, err)
	}
	return nil
}

// InitIdentity creates a node identity in dir, sealed to enc. It refuses to
// overwrite an existing one.
func InitIdentity(dir string, enc enclave.Sealer) (*Identity, error) {
	if _, err := os.Stat(filepath.Join(dir, keyFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a node identity", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	secret := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if err := sealToFile(dir, nodeSecretFile, secret, enc); err != nil {
		return nil, err
	}
	// The key file last: its presence marks a complete identity.
	if err := sealToFile(dir, keyFile, seed, enc); err != nil {
		return nil, err
	}
	return &Identity{Key: ed25519.NewKeyFromSeed(seed), NodeSecret: secret}, nil
}

// LoadIdentity unseals the node identity in dir.
func LoadIdentity(dir string, enc enclave.Sealer) (*Identity, error) {
	seed, err := unsealFile(dir, keyFile, enc)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoIdentity)
	}
	if err != nil {
		return nil, err
	}
	secret, err := unsealFile(dir, nodeSecretFile, enc)
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize || len(secret) != 32 {
		return nil, fmt.Errorf("%s: node identity is corrupt", dir)
	}
	return &Identity{Key: ed25519.NewKeyFromSeed(seed), NodeSecret: secret}, nil
}

func sealToFile(dir, name string, secret []byte, enc enclave.Sealer) error {
	sealed, err := enc.Seal(secret, []byte("coco/"+name))
	if err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	return durable.WriteFile(filepath.Join(dir, name), sealed)
}

func unsealFile(dir, name string, enc enclave.Sealer) ([]byte, error) {
	path := filepath.Join(dir, name)
	sealed, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	secret, err := enc.Unseal(sealed, []byte("coco/"+name))
	if err != nil {
		return nil, fmt.Errorf("unseal %s (was it sealed by another enclave?): %w", path, err)
	}
	return secret, nil
}

// HexBytes marshals as a hex string in JSON.
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (b HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(b)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *HexBytes) UnmarshalText(text []byte) error {
	out, err := hex.DecodeString(string(text))
	if err != nil {
		return err
	}
	*b = out
	return nil
}
