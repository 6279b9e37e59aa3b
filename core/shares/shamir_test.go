package shares

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// testRand is a deterministic randomness source so failures reproduce.
func testRand(seed byte) *rand.ChaCha8 { return rand.NewChaCha8([32]byte{seed}) }

func randomSecret(t testing.TB, r io.Reader, size int) []byte {
	t.Helper()
	s := make([]byte, size)
	if _, err := io.ReadFull(r, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func split(t testing.TB, secret []byte, n, k int, r io.Reader) []Share {
	t.Helper()
	sh, err := Split(secret, n, k, r)
	if err != nil {
		t.Fatalf("Split(n=%d, k=%d): %v", n, k, err)
	}
	if len(sh) != n {
		t.Fatalf("Split(n=%d, k=%d) gave %d shares", n, k, len(sh))
	}
	return sh
}

func TestRoundTripManyParameters(t *testing.T) {
	r := testRand(1)
	type nk struct{ n, k int }
	var cases []nk
	for n := 1; n <= 10; n++ {
		for k := 1; k <= n; k++ {
			cases = append(cases, nk{n, k})
		}
	}
	cases = append(cases, nk{255, 1}, nk{255, 128}, nk{255, 255}, nk{100, 3})
	for _, c := range cases {
		for _, size := range []int{1, 32, 33} {
			secret := randomSecret(t, r, size)
			sh := split(t, secret, c.n, c.k, r)
			for i, s := range sh {
				if s.Index != byte(i+1) || len(s.Value) != size {
					t.Fatalf("n=%d k=%d: share %d is %v", c.n, c.k, i, s)
				}
			}
			// The first k, the last k, and all n.
			for _, subset := range [][]Share{sh[:c.k], sh[c.n-c.k:], sh} {
				got, err := Combine(subset)
				if err != nil {
					t.Fatalf("n=%d k=%d: Combine: %v", c.n, c.k, err)
				}
				if !bytes.Equal(got, secret) {
					t.Fatalf("n=%d k=%d size=%d: Combine of %d shares gave a different secret", c.n, c.k, size, len(subset))
				}
			}
		}
	}
}

// subsets calls f with every size-k subset of shares (in index order).
func subsets(shares []Share, k int, f func([]Share)) {
	var rec func(start int, cur []Share)
	rec = func(start int, cur []Share) {
		if len(cur) == k {
			f(slices.Clone(cur))
			return
		}
		for i := start; i < len(shares); i++ {
			rec(i+1, append(cur, shares[i]))
		}
	}
	rec(0, nil)
}

func TestEveryKSubsetReconstructs(t *testing.T) {
	r := testRand(2)
	for _, c := range []struct{ n, k int }{{6, 3}, {7, 4}, {5, 5}, {5, 1}, {8, 2}} {
		secret := randomSecret(t, r, 32)
		sh := split(t, secret, c.n, c.k, r)
		count := 0
		subsets(sh, c.k, func(sub []Share) {
			count++
			slices.Reverse(sub) // order must not matter
			got, err := Combine(sub)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, secret) {
				t.Fatalf("n=%d k=%d: subset %v does not reconstruct", c.n, c.k, sub)
			}
		})
		if count == 0 {
			t.Fatal("no subsets tried")
		}
	}
}

func TestFewerThanKSharesDoNotReconstruct(t *testing.T) {
	r := testRand(3)
	for i := range 300 {
		n := 2 + int(r.Uint64()%20)
		k := 2 + int(r.Uint64()%uint64(n-1)) // 2..n
		secret := randomSecret(t, r, 32)
		sh := split(t, secret, n, k, r)
		perm := rand.New(r).Perm(n)
		var sub []Share
		for _, p := range perm[:k-1] {
			sub = append(sub, sh[p])
		}
		got, err := Combine(sub)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, secret) {
			t.Fatalf("round %d: %d of %d-of-%d shares reproduced the secret", i, k-1, k, n)
		}
		commit := Commitment(secret, "ctx")
		if _, err := CombineChecked(sub, commit, "ctx"); !errors.Is(err, ErrWrongSecret) {
			t.Fatalf("round %d: CombineChecked with k-1 shares: %v, want ErrWrongSecret", i, err)
		}
		if s, err := CombineChecked(sh[:k], commit, "ctx"); err != nil || !bytes.Equal(s, secret) {
			t.Fatalf("round %d: CombineChecked with k shares: %v", i, err)
		}
	}
}

// fixedReader serves the given bytes, then EOF.
type fixedReader struct{ b []byte }

func (f *fixedReader) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// Perfect secrecy: for every secret, as the random coefficients range over
// all values, the k-1 shares take every value exactly once, so they say
// nothing about the secret.
func TestKMinusOneSharesAreUniform(t *testing.T) {
	// k = 2: one share, any index.
	for s := range 256 {
		for _, idx := range []int{0, 1, 254} { // share indices 1, 2, 255
			var seen [256]bool
			for c := range 256 {
				sh, err := Split([]byte{byte(s)}, 255, 2, &fixedReader{[]byte{byte(c)}})
				if err != nil {
					t.Fatal(err)
				}
				seen[sh[idx].Value[0]] = true
			}
			for v, ok := range seen {
				if !ok {
					t.Fatalf("k=2 secret %#02x: share #%d never takes value %#02x", s, idx+1, v)
				}
			}
		}
	}
	// k = 3: two shares.
	for _, s := range []byte{0x00, 0x5a, 0xff} {
		seen := make([]bool, 1<<16)
		for c := range 1 << 16 {
			sh, err := Split([]byte{s}, 3, 3, &fixedReader{[]byte{byte(c), byte(c >> 8)}})
			if err != nil {
				t.Fatal(err)
			}
			seen[int(sh[0].Value[0])<<8|int(sh[2].Value[0])] = true
		}
		if i := slices.Index(seen, false); i >= 0 {
			t.Fatalf("k=3 secret %#02x: shares #1, #3 never take values %#04x", s, i)
		}
	}
}

func TestSplitKnownAnswer(t *testing.T) {
	// f(x) = 0x42 + 0x01·x for the one byte, so share x is 0x42 XOR x.
	sh, err := Split([]byte{0x42}, 3, 2, &fixedReader{[]byte{0x01}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Share{{1, []byte{0x43}}, {2, []byte{0x40}}, {3, []byte{0x41}}}
	for i := range want {
		if sh[i].Index != want[i].Index || !bytes.Equal(sh[i].Value, want[i].Value) {
			t.Errorf("share %d = %#v %x, want %x", i, sh[i], sh[i].Value, want[i].Value)
		}
	}
	// f(x) = 0x10 + 0x57·x + 0x83·x² (coefficients read lowest degree
	// first). f(1) = 0x10^0x57^0x83 = 0xc4; f(2) = 0x10 ^ 0x57·2 ^ 0x83·4
	// = 0x10 ^ 0xae ^ 0x3a = 0x84 (0x57·2 = 0xae by FIPS-197; 0x83·2 =
	// 0x106 reduced = 0x1d, ·2 again = 0x3a).
	sh, err = Split([]byte{0x10}, 3, 3, &fixedReader{[]byte{0x57, 0x83}})
	if err != nil {
		t.Fatal(err)
	}
	if got := []byte{sh[0].Value[0], sh[1].Value[0]}; !bytes.Equal(got, []byte{0xc4, 0x84}) {
		t.Errorf("shares #1, #2 = %x, want c484", got)
	}
}

func TestSplitRejectsBadParameters(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, c := range []struct {
		secret []byte
		n, k   int
	}{
		{nil, 3, 2}, {[]byte{}, 3, 2}, {secret, 3, 0}, {secret, 3, -1}, {secret, 2, 3},
		{secret, 0, 0}, {secret, 256, 2}, {secret, 300, 300},
	} {
		if _, err := Split(c.secret, c.n, c.k, testRand(4)); !errors.Is(err, ErrParams) {
			t.Errorf("Split(len=%d, n=%d, k=%d) = %v, want ErrParams", len(c.secret), c.n, c.k, err)
		}
	}
}

func TestSplitReportsRandomnessFailure(t *testing.T) {
	_, err := Split([]byte("secret"), 3, 2, &fixedReader{[]byte{1, 2}})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Split with short randomness: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestSplitWithDefaultRandomness(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	orig := slices.Clone(secret)
	a := split(t, secret, 5, 3, nil)
	b := split(t, secret, 5, 3, nil)
	if !bytes.Equal(secret, orig) {
		t.Fatal("Split modified the secret")
	}
	if bytes.Equal(a[0].Value, b[0].Value) {
		t.Fatal("two splits with crypto/rand gave the same share")
	}
	got, err := Combine([]Share{a[4], a[0], a[2]})
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Combine: %v", err)
	}
	// Shares must not alias the secret.
	a[0].Value[0] ^= 1
	if !bytes.Equal(secret, orig) {
		t.Fatal("a share aliases the secret")
	}
}

func TestCombineRejectsInvalidSets(t *testing.T) {
	sh := split(t, []byte("0123456789abcdef"), 4, 2, testRand(5))
	short := Share{Index: 9, Value: []byte{1, 2, 3}}
	for name, set := range map[string][]Share{
		"empty":          nil,
		"duplicate":      {sh[0], sh[1], sh[0]},
		"same index":     {sh[2], {Index: sh[2].Index, Value: sh[3].Value}},
		"index zero":     {sh[0], {Index: 0, Value: sh[1].Value}},
		"zero first":     {{Index: 0, Value: sh[1].Value}, sh[0]},
		"unequal length": {sh[0], short},
		"empty value":    {{Index: 1}, {Index: 2}},
	} {
		if _, err := Combine(set); !errors.Is(err, ErrShares) {
			t.Errorf("%s: Combine = %v, want ErrShares", name, err)
		}
		if _, err := CombineChecked(set, [32]byte{}, ""); !errors.Is(err, ErrShares) {
			t.Errorf("%s: CombineChecked = %v, want ErrShares", name, err)
		}
	}
}

func TestCommitment(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	c := Commitment(secret, "coco/net|1")
	if c != Commitment(slices.Clone(secret), "coco/net|1") {
		t.Fatal("commitment is not deterministic")
	}
	if c == Commitment(secret, "coco/net|2") {
		t.Fatal("commitment ignores the context")
	}
	other := slices.Clone(secret)
	other[31] ^= 1
	if c == Commitment(other, "coco/net|1") {
		t.Fatal("commitment ignores the secret")
	}
	// The context is length-prefixed: moving bytes between context and
	// secret changes the commitment.
	if Commitment([]byte("bc"), "a") == Commitment([]byte("c"), "ab") {
		t.Fatal("context and secret boundary is ambiguous")
	}
	sh := split(t, secret, 3, 2, testRand(6))
	if _, err := CombineChecked(sh[:2], c, "coco/net|2"); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("wrong context: %v, want ErrWrongSecret", err)
	}
	sh2 := split(t, other, 3, 2, testRand(7))
	if _, err := CombineChecked([]Share{sh[0], sh2[1]}, c, "coco/net|1"); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("shares of two splits: %v, want ErrWrongSecret", err)
	}
	got, err := CombineChecked(sh[1:], c, "coco/net|1")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("CombineChecked: %v", err)
	}
}

func TestMarshalRoundTripThenCombine(t *testing.T) {
	secret := randomSecret(t, testRand(8), 32)
	sh := split(t, secret, 7, 4, testRand(9))
	var decoded []Share
	for _, s := range sh[3:] {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 2+32 || b[0] != 1 || b[1] != s.Index {
			t.Fatalf("encoding of %v is %x", s, b)
		}
		var d Share
		if err := d.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		clear(b) // the decoded share must not alias the input
		decoded = append(decoded, d)
	}
	got, err := CombineChecked(decoded, Commitment(secret, "x"), "x")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Combine of decoded shares: %v", err)
	}
}

func TestMarshalRejectsInvalidShare(t *testing.T) {
	for _, s := range []Share{{Index: 0, Value: []byte{1}}, {Index: 1}, {Index: 1, Value: []byte{}}} {
		if _, err := s.MarshalBinary(); !errors.Is(err, ErrShares) {
			t.Errorf("MarshalBinary(%v) = %v, want ErrShares", s, err)
		}
	}
}

func TestUnmarshalRejectsMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {1}, {1, 5}, {2, 5, 7}, {0, 5, 7}, {1, 0, 7}} {
		var s Share
		if err := s.UnmarshalBinary(b); !errors.Is(err, ErrShares) {
			t.Errorf("UnmarshalBinary(%x) = %v, want ErrShares", b, err)
		}
	}
}

func TestShareFormattingRedactsValue(t *testing.T) {
	s := Share{Index: 3, Value: []byte{0xde, 0xad, 0xbe, 0xef, 0x42}}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("got", "share", s)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("got", "share", s)
	out := buf.String()
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out += fmt.Sprintf(f, s) + fmt.Sprintf(f, &s) + fmt.Sprintf(f, []Share{s})
	}
	for _, leak := range []string{"deadbeef", "222 173", "[222", "\\xde"} {
		if strings.Contains(strings.ToLower(out), leak) {
			t.Fatalf("formatted share leaks its value (%q) in:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "share #3 (5 bytes)") || !strings.Contains(out, "index=3") {
		t.Fatalf("formatted share lacks its index and size:\n%s", out)
	}
}
