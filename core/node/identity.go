package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cocoledger/coco/enclave"
)

// Identity is the node's key and secrets. They exist in plaintext only in
// enclave memory; on disk they are sealed to the enclave.
type Identity struct {
	Key          ed25519.PrivateKey
	NodeSecret   []byte // root of this node's at-rest keys
	LedgerSecret []byte // shared by the network; seals batches and the ledger
}

// NodeID is the network-wide identity of a node: SHA-256 of its public key.
func (id *Identity) NodeID() string {
	h := sha256Hex(id.Key.Public().(ed25519.PublicKey))
	return h
}

const (
	keyFile          = "node.key.sealed"
	nodeSecretFile   = "node.secret.sealed"
	ledgerSecretFile = "ledger.secret.sealed"
)

// loadIdentity unseals the node's identity from dir, creating it on first
// start. created reports whether it was new.
func loadIdentity(dir string, enc enclave.Sealer) (id *Identity, created bool, err error) {
	seed, c1, err := loadOrCreateSecret(dir, keyFile, enc)
	if err != nil {
		return nil, false, err
	}
	nodeSecret, c2, err := loadOrCreateSecret(dir, nodeSecretFile, enc)
	if err != nil {
		return nil, false, err
	}
	ledgerSecret, c3, err := loadOrCreateSecret(dir, ledgerSecretFile, enc)
	if err != nil {
		return nil, false, err
	}
	if c1 != c2 || c2 != c3 {
		// A partial identity means files were lost or copied: the node would
		// no longer be who the network knows, so refuse rather than guess.
		return nil, false, fmt.Errorf("node identity in %s is incomplete (some of %s, %s, %s are missing)", dir, keyFile, nodeSecretFile, ledgerSecretFile)
	}
	return &Identity{Key: ed25519.NewKeyFromSeed(seed), NodeSecret: nodeSecret, LedgerSecret: ledgerSecret}, c1, nil
}

func loadOrCreateSecret(dir, name string, enc enclave.Sealer) ([]byte, bool, error) {
	path := filepath.Join(dir, name)
	ad := []byte("coco/" + name)
	sealed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, false, err
		}
		sealed, err := enc.Seal(secret, ad)
		if err != nil {
			return nil, false, fmt.Errorf("seal %s: %w", name, err)
		}
		if err := writeFileSync(path, sealed); err != nil {
			return nil, false, err
		}
		return secret, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	secret, err := enc.Unseal(sealed, ad)
	if err != nil {
		return nil, false, fmt.Errorf("unseal %s (was it sealed by another enclave?): %w", path, err)
	}
	return secret, false, nil
}

// writeFileSync writes atomically and durably: temp file, fsync, rename.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
