package state

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

const (
	formatV1 = 0x01
	// overhead is what sealing adds to a value: format byte, nonce, tag.
	overhead = 1 + 12 + 16
)

// deriveAEAD derives the AES-256-GCM key for info from the database key.
// The AEAD draws a fresh random nonce for every Seal and prepends it.
func deriveAEAD(key []byte, info string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, key, nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("state: derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	clear(k)
	if err != nil {
		return nil, fmt.Errorf("state: derive key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("state: derive key: %w", err)
	}
	return aead, nil
}

// sealTo encrypts plain for the Pebble key fullKey into dst, which must be
// exactly len(plain)+overhead bytes.
func sealTo(aead cipher.AEAD, dst, fullKey, plain []byte) {
	dst[0] = formatV1
	aead.Seal(dst[1:1], nil, plain, fullKey)
}

// seal appends the encryption of plain for fullKey to dst.
func seal(aead cipher.AEAD, dst, fullKey, plain []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, len(plain)+overhead)...)
	sealTo(aead, dst[n:], fullKey, plain)
	return dst
}

// open appends the decryption of stored (read under fullKey) to dst.
func open(aead cipher.AEAD, dst, fullKey, stored []byte) ([]byte, error) {
	if len(stored) < overhead || stored[0] != formatV1 {
		return nil, ErrCorrupt
	}
	out, err := aead.Open(dst, nil, stored[1:], fullKey)
	if err != nil {
		return nil, ErrCorrupt
	}
	return out, nil
}
