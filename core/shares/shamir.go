package shares

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

var (
	// ErrParams means Split, Seal or Open was called with unusable
	// arguments (k, n, an empty secret, a missing key or info).
	ErrParams = errors.New("shares: invalid parameters")
	// ErrShares means a set of shares cannot be combined, or a share's
	// encoding is malformed.
	ErrShares = errors.New("shares: invalid shares")
	// ErrWrongSecret means the combined secret does not match the
	// commitment: too few shares, shares of another split, or a bad share.
	ErrWrongSecret = errors.New("shares: combined secret does not match its commitment")
)

// MaxShares is the largest n: share indices are the non-zero elements of
// GF(2^8).
const MaxShares = 255

// Share is one member's share of a secret: the value at x = Index of a
// random polynomial, one per secret byte, whose value at 0 is the secret.
// Index is never 0 (that would be the secret itself).
type Share struct {
	Index byte
	Value []byte
}

// shareFormat is the first byte of an encoded share, so the encoding can
// change without ambiguity.
const shareFormat = 1

// MarshalBinary encodes the share as format (1), index, value.
func (s Share) MarshalBinary() ([]byte, error) {
	if s.Index == 0 || len(s.Value) == 0 {
		return nil, fmt.Errorf("%w: share has index %d and %d value bytes", ErrShares, s.Index, len(s.Value))
	}
	out := make([]byte, 0, 2+len(s.Value))
	out = append(out, shareFormat, s.Index)
	return append(out, s.Value...), nil
}

// UnmarshalBinary decodes a share written by MarshalBinary. The value is
// copied, so data may be cleared afterwards.
func (s *Share) UnmarshalBinary(data []byte) error {
	switch {
	case len(data) < 3:
		return fmt.Errorf("%w: encoded share has %d bytes", ErrShares, len(data))
	case data[0] != shareFormat:
		return fmt.Errorf("%w: unknown share format %d", ErrShares, data[0])
	case data[1] == 0:
		return fmt.Errorf("%w: share index 0", ErrShares)
	}
	s.Index = data[1]
	s.Value = append([]byte(nil), data[2:]...)
	return nil
}

// String names the share without its value, so that a share printed or
// logged by mistake does not leak.
func (s Share) String() string { return fmt.Sprintf("share #%d (%d bytes)", s.Index, len(s.Value)) }

// GoString redacts the value for %#v as well.
func (s Share) GoString() string { return "shares.Share{" + s.String() + "}" }

// LogValue redacts the value in log/slog output.
func (s Share) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("index", int(s.Index)), slog.Int("bytes", len(s.Value)))
}

// Split divides secret into n shares, any k of which reconstruct it; fewer
// than k reveal nothing about it. Requires 1 ≤ k ≤ n ≤ 255 and a non-empty
// secret. Shares get indices 1..n. random supplies the polynomial
// coefficients; nil means crypto/rand. With k = 1 every share is the secret.
func Split(secret []byte, n, k int, random io.Reader) ([]Share, error) {
	switch {
	case len(secret) == 0:
		return nil, fmt.Errorf("%w: empty secret", ErrParams)
	case k < 1 || n < k || n > MaxShares:
		return nil, fmt.Errorf("%w: need 1 ≤ k ≤ n ≤ %d, have k=%d n=%d", ErrParams, MaxShares, k, n)
	}
	if random == nil {
		random = rand.Reader
	}
	// Coefficients of x^1..x^(k-1) for secret byte b are
	// coeffs[b*(k-1) : (b+1)*(k-1)], lowest degree first.
	deg := k - 1
	coeffs := make([]byte, deg*len(secret))
	defer clear(coeffs)
	if _, err := io.ReadFull(random, coeffs); err != nil {
		return nil, fmt.Errorf("shares: read randomness: %w", err)
	}
	out := make([]Share, n)
	for i := range out {
		x := byte(i + 1)
		v := make([]byte, len(secret))
		for b, s := range secret {
			c := coeffs[b*deg : (b+1)*deg]
			var y byte
			for d := deg - 1; d >= 0; d-- { // Horner
				y = mul(y, x) ^ c[d]
			}
			v[b] = mul(y, x) ^ s
		}
		out[i] = Share{Index: x, Value: v}
	}
	return out, nil
}

// Combine reconstructs the secret from shares by Lagrange interpolation at
// 0. It refuses an empty set, index 0, duplicate indices and values of
// unequal or zero length. Given fewer than k shares, or shares of different
// splits, it returns a wrong secret without error; use CombineChecked.
func Combine(shares []Share) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no shares", ErrShares)
	}
	size := len(shares[0].Value)
	if size == 0 {
		return nil, fmt.Errorf("%w: share #%d is empty", ErrShares, shares[0].Index)
	}
	var seen [256]bool
	for _, s := range shares {
		switch {
		case s.Index == 0:
			return nil, fmt.Errorf("%w: share index 0", ErrShares)
		case seen[s.Index]:
			return nil, fmt.Errorf("%w: share #%d given twice", ErrShares, s.Index)
		case len(s.Value) != size:
			return nil, fmt.Errorf("%w: share #%d has %d bytes, share #%d has %d",
				ErrShares, s.Index, len(s.Value), shares[0].Index, size)
		}
		seen[s.Index] = true
	}
	secret := make([]byte, size)
	for i, si := range shares {
		// Lagrange basis at 0: ∏_{j≠i} x_j / (x_j − x_i); subtraction is XOR.
		num, den := byte(1), byte(1)
		for j, sj := range shares {
			if i != j {
				num = mul(num, sj.Index)
				den = mul(den, sj.Index^si.Index)
			}
		}
		l := mul(num, inv(den))
		for b, y := range si.Value {
			secret[b] ^= mul(l, y)
		}
	}
	return secret, nil
}

// commitmentDomain separates commitments from every other SHA-256 use.
const commitmentDomain = "coco/recovery-commitment/v1"

// Commitment binds a secret and its context (e.g. network and generation)
// so that a combined secret can be checked before use. It is SHA-256 over
// the domain, the length-prefixed context and the secret. It hides only a
// high-entropy secret (such as a 32-byte key): a guessable secret can be
// found from its commitment.
func Commitment(secret []byte, context string) [32]byte {
	h := sha256.New()
	h.Write([]byte(commitmentDomain))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(context))))
	h.Write([]byte(context))
	h.Write(secret)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// CombineChecked combines shares and returns the secret only if it matches
// commitment under context; otherwise ErrWrongSecret.
func CombineChecked(shares []Share, commitment [32]byte, context string) ([]byte, error) {
	secret, err := Combine(shares)
	if err != nil {
		return nil, err
	}
	got := Commitment(secret, context)
	if subtle.ConstantTimeCompare(got[:], commitment[:]) != 1 {
		clear(secret)
		return nil, fmt.Errorf("%w (%d shares given)", ErrWrongSecret, len(shares))
	}
	return secret, nil
}
