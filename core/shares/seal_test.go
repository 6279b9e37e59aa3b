package shares

import (
	"bytes"
	"crypto/hpke"
	"errors"
	"testing"
)

func memberKey(t testing.TB) hpke.PrivateKey {
	t.Helper()
	k, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestInfo(t *testing.T) {
	if got := string(Info("prod", 7)); got != "coco/recovery-share/v1|prod|7" {
		t.Fatalf("Info = %q", got)
	}
	if bytes.Equal(Info("a|1", 2), Info("a", 12)) || bytes.Equal(Info("a", 1), Info("b", 1)) {
		t.Fatal("Info is ambiguous")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	key := memberKey(t)
	// Members publish raw public keys; parse as the lead will.
	pub, err := ParsePublicKey(key.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	s := Share{Index: 5, Value: []byte("0123456789abcdef0123456789abcdef")}
	info := Info("prod", 3)
	ct, err := Seal(s, pub, info)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, s.Value) {
		t.Fatal("ciphertext contains the share in the clear")
	}
	ct2, err := Seal(s, pub, info)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ct, ct2) {
		t.Fatal("two seals of one share are equal")
	}
	for _, c := range [][]byte{ct, ct2} {
		got, err := Open(c, key, info)
		if err != nil {
			t.Fatal(err)
		}
		if got.Index != s.Index || !bytes.Equal(got.Value, s.Value) {
			t.Fatalf("Open gave %v", got)
		}
	}
}

func TestOpenRefusesWrongKeyInfoOrTampering(t *testing.T) {
	key := memberKey(t)
	s := Share{Index: 1, Value: []byte("0123456789abcdef0123456789abcdef")}
	info := Info("prod", 3)
	ct, err := Seal(s, key.PublicKey(), info)
	if err != nil {
		t.Fatal(err)
	}
	expectDecrypt := func(what string, ct []byte, key hpke.PrivateKey, info []byte) {
		t.Helper()
		if got, err := Open(ct, key, info); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("%s: Open = %v, %v; want ErrDecrypt", what, got, err)
		}
	}
	expectDecrypt("wrong key", ct, memberKey(t), info)
	expectDecrypt("other network", ct, key, Info("test", 3))
	expectDecrypt("other generation", ct, key, Info("prod", 4))
	expectDecrypt("truncated", ct[:len(ct)-1], key, info)
	expectDecrypt("extended", append(bytes.Clone(ct), 0), key, info)
	expectDecrypt("encapsulated key only", ct[:32], key, info)
	expectDecrypt("empty", nil, key, info)
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		expectDecrypt("bit flip", bad, key, info)
	}
}

func TestSealOpenRejectBadArguments(t *testing.T) {
	key := memberKey(t)
	s := Share{Index: 1, Value: []byte{1, 2, 3}}
	if _, err := Seal(s, nil, Info("n", 1)); !errors.Is(err, ErrParams) {
		t.Errorf("nil key: %v", err)
	}
	if _, err := Seal(s, key.PublicKey(), nil); !errors.Is(err, ErrParams) {
		t.Errorf("empty info: %v", err)
	}
	if _, err := Seal(Share{Index: 0, Value: []byte{1}}, key.PublicKey(), Info("n", 1)); !errors.Is(err, ErrShares) {
		t.Errorf("index 0: %v", err)
	}
	other, err := hpke.MLKEM768().GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Seal(s, other.PublicKey(), Info("n", 1)); !errors.Is(err, ErrParams) {
		t.Errorf("ML-KEM recipient: %v", err)
	}
	ct, err := Seal(s, key.PublicKey(), Info("n", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ct, nil, Info("n", 1)); !errors.Is(err, ErrParams) {
		t.Errorf("Open nil key: %v", err)
	}
	if _, err := Open(ct, key, nil); !errors.Is(err, ErrParams) {
		t.Errorf("Open empty info: %v", err)
	}
	if _, err := Open(ct, other, Info("n", 1)); !errors.Is(err, ErrParams) {
		t.Errorf("Open ML-KEM key: %v", err)
	}
	for _, b := range [][]byte{nil, make([]byte, 31), make([]byte, 33)} {
		if _, err := ParsePublicKey(b); !errors.Is(err, ErrParams) {
			t.Errorf("ParsePublicKey(%d bytes) = %v, want ErrParams", len(b), err)
		}
	}
}

// The recovery flow end to end: split, seal to members, k members open,
// combine and check.
func TestRecoveryFlow(t *testing.T) {
	const n, k = 5, 3
	secret := randomSecret(t, testRand(10), 32)
	info := Info("prod", 2)
	commit := Commitment(secret, string(info))
	sh := split(t, secret, n, k, nil)
	keys := make([]hpke.PrivateKey, n)
	sealed := make([][]byte, n)
	for i := range sh {
		keys[i] = memberKey(t)
		pub, err := ParsePublicKey(keys[i].PublicKey().Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if sealed[i], err = Seal(sh[i], pub, info); err != nil {
			t.Fatal(err)
		}
	}
	var opened []Share
	for _, i := range []int{4, 1, 2} {
		s, err := Open(sealed[i], keys[i], info)
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, s)
		if len(opened) < k {
			if _, err := CombineChecked(opened, commit, string(info)); !errors.Is(err, ErrWrongSecret) {
				t.Fatalf("%d shares: %v, want ErrWrongSecret", len(opened), err)
			}
		}
	}
	got, err := CombineChecked(opened, commit, string(info))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("recovered %x, %v", got, err)
	}
	// A member's share opened with another member's key fails.
	if _, err := Open(sealed[0], keys[1], info); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("cross-member open: %v", err)
	}
}
