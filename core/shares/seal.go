package shares

import (
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"fmt"
	"strconv"
)

// ErrDecrypt means a sealed share could not be opened: wrong key, wrong
// info, or a modified ciphertext. It wraps the cause.
var ErrDecrypt = errors.New("shares: cannot decrypt share")

// The suite is fixed: DHKEM(X25519), HKDF-SHA256, AES-256-GCM (RFC 9180),
// the same as node/identity.go uses for the ledger secret.
var kem = hpke.DHKEM(ecdh.X25519())

func kdf() hpke.KDF   { return hpke.HKDFSHA256() }
func aead() hpke.AEAD { return hpke.AES256GCM() }

// ParsePublicKey reads a member's 32-byte X25519 encryption public key.
func ParsePublicKey(b []byte) (hpke.PublicKey, error) {
	pk, err := kem.NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: member encryption key: %w", ErrParams, err)
	}
	return pk, nil
}

// Info is the HPKE info that binds a share to its network and ledger-secret
// generation: "coco/recovery-share/v1|<network>|<generation>". Seal and Open
// must be given the same info; a share sealed for one network or
// generation does not open for another. It is unambiguous even if network
// contains '|', since the generation is the decimal after the last one.
func Info(network string, generation uint64) []byte {
	return []byte("coco/recovery-share/v1|" + network + "|" + strconv.FormatUint(generation, 10))
}

// Seal encrypts share s to one member's X25519 encryption key. info must
// not be empty: callers pass Info(network, generation).
func Seal(s Share, to hpke.PublicKey, info []byte) ([]byte, error) {
	switch {
	case to == nil:
		return nil, fmt.Errorf("%w: no recipient key", ErrParams)
	case to.KEM().ID() != kem.ID():
		return nil, fmt.Errorf("%w: recipient key is for KEM %#04x, want DHKEM(X25519)", ErrParams, to.KEM().ID())
	case len(info) == 0:
		return nil, fmt.Errorf("%w: empty info (use Info)", ErrParams)
	}
	plain, err := s.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	ct, err := hpke.Seal(to, kdf(), aead(), info, plain)
	if err != nil {
		return nil, fmt.Errorf("shares: seal share #%d: %w", s.Index, err)
	}
	return ct, nil
}

// Open decrypts a share sealed by Seal with the member's private key and
// the same info. Any failure to authenticate is ErrDecrypt.
func Open(ciphertext []byte, key hpke.PrivateKey, info []byte) (Share, error) {
	switch {
	case key == nil:
		return Share{}, fmt.Errorf("%w: no private key", ErrParams)
	case key.KEM().ID() != kem.ID():
		return Share{}, fmt.Errorf("%w: private key is for KEM %#04x, want DHKEM(X25519)", ErrParams, key.KEM().ID())
	case len(info) == 0:
		return Share{}, fmt.Errorf("%w: empty info (use Info)", ErrParams)
	}
	plain, err := hpke.Open(key, kdf(), aead(), info, ciphertext)
	if err != nil {
		return Share{}, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	defer clear(plain)
	var s Share
	if err := s.UnmarshalBinary(plain); err != nil {
		// Authentic but malformed: the sender sealed something else.
		return Share{}, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return s, nil
}
