package devkeys

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/text/unicode/norm"
)

// DevMnemonic is the mnemonic Hardhat and Anvil use for their default
// accounts; account 0 is 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266.
const DevMnemonic = "test test test test test test test test test test test junk"

// MaxAccounts bounds how many accounts one Derive call returns, so a typo in a
// count cannot make a caller spin for minutes.
const MaxAccounts = 1 << 20

var (
	// ErrMnemonic reports a mnemonic that is not 12, 15, 18, 21 or 24 words.
	ErrMnemonic = errors.New("devkeys: invalid mnemonic")
	// ErrCount reports a negative or too large account count.
	ErrCount = errors.New("devkeys: invalid account count")
	// ErrInvalidChild reports the (probability ~2^-127) BIP-32 case where a
	// child key is unusable; BIP-32 says to skip that index.
	ErrInvalidChild = errors.New("devkeys: invalid BIP-32 child key")
)

const hardened = uint32(1) << 31

// Derive returns the first n accounts of mnemonic (empty passphrase) along
// m/44'/60'/0'/0/i. It checks the word count but not the BIP-39 checksum,
// which Hardhat does not require either.
func Derive(mnemonic string, n int) ([]*ecdsa.PrivateKey, error) {
	if n < 0 || n > MaxAccounts {
		return nil, fmt.Errorf("%w: %d", ErrCount, n)
	}
	seed, err := Seed(mnemonic, "")
	if err != nil {
		return nil, err
	}
	k, err := master(seed)
	if err != nil {
		return nil, err
	}
	for _, idx := range []uint32{44 | hardened, 60 | hardened, 0 | hardened, 0} {
		if k, err = k.child(idx); err != nil {
			return nil, fmt.Errorf("devkeys: derive m/44'/60'/0'/0: %w", err)
		}
	}
	keys := make([]*ecdsa.PrivateKey, 0, n)
	for i := 0; i < n; i++ {
		c, err := k.child(uint32(i))
		if err != nil {
			return nil, fmt.Errorf("devkeys: derive account %d: %w", i, err)
		}
		priv, err := crypto.ToECDSA(c.key)
		if err != nil {
			return nil, fmt.Errorf("devkeys: account %d: %w", i, err)
		}
		keys = append(keys, priv)
	}
	return keys, nil
}

// Seed is the BIP-39 seed of mnemonic and passphrase:
// PBKDF2-HMAC-SHA512(NFKD(mnemonic), "mnemonic"+NFKD(passphrase), 2048, 64).
func Seed(mnemonic, passphrase string) ([]byte, error) {
	words := strings.Fields(norm.NFKD.String(mnemonic))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return nil, fmt.Errorf("%w: %d words, want 12, 15, 18, 21 or 24", ErrMnemonic, len(words))
	}
	salt := "mnemonic" + norm.NFKD.String(passphrase)
	seed, err := pbkdf2.Key(sha512.New, strings.Join(words, " "), []byte(salt), 2048, 64)
	if err != nil {
		return nil, fmt.Errorf("devkeys: pbkdf2: %w", err)
	}
	return seed, nil
}

// extKey is a BIP-32 extended private key.
type extKey struct {
	key       []byte // 32 bytes, big-endian scalar
	chainCode []byte // 32 bytes
}

func master(seed []byte) (*extKey, error) {
	mac := hmac.New(sha512.New, []byte("Bitcoin seed"))
	mac.Write(seed)
	sum := mac.Sum(nil)
	k := new(big.Int).SetBytes(sum[:32])
	if k.Sign() == 0 || k.Cmp(crypto.S256().Params().N) >= 0 {
		return nil, fmt.Errorf("master key: %w", ErrInvalidChild)
	}
	return &extKey{key: sum[:32], chainCode: sum[32:]}, nil
}

// child is BIP-32 CKDpriv.
func (k *extKey) child(index uint32) (*extKey, error) {
	var data []byte
	if index >= hardened {
		data = make([]byte, 0, 37)
		data = append(data, 0)
		data = append(data, k.key...)
	} else {
		priv, err := crypto.ToECDSA(k.key)
		if err != nil {
			return nil, err
		}
		data = append(data, crypto.CompressPubkey(&priv.PublicKey)...)
	}
	data = binary.BigEndian.AppendUint32(data, index)
	mac := hmac.New(sha512.New, k.chainCode)
	mac.Write(data)
	sum := mac.Sum(nil)

	n := crypto.S256().Params().N
	il := new(big.Int).SetBytes(sum[:32])
	if il.Cmp(n) >= 0 {
		return nil, fmt.Errorf("index %d: %w", index, ErrInvalidChild)
	}
	il.Add(il, new(big.Int).SetBytes(k.key))
	il.Mod(il, n)
	if il.Sign() == 0 {
		return nil, fmt.Errorf("index %d: %w", index, ErrInvalidChild)
	}
	return &extKey{key: il.FillBytes(make([]byte, 32)), chainCode: sum[32:]}, nil
}
