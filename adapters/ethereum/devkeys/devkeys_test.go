package devkeys

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

func TestDeriveHardhatAccounts(t *testing.T) {
	keys, err := Derive(DevMnemonic, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 10 {
		t.Fatalf("got %d keys, want 10", len(keys))
	}
	wantAddr := map[int]string{
		0: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
		1: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
		9: "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
	}
	for i, want := range wantAddr {
		if got := crypto.PubkeyToAddress(keys[i].PublicKey).Hex(); got != want {
			t.Errorf("account %d = %s, want %s", i, got, want)
		}
	}
	wantKey := map[int]string{
		0: "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
		1: "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
	}
	for i, want := range wantKey {
		if got := hex.EncodeToString(crypto.FromECDSA(keys[i])); got != want {
			t.Errorf("account %d key = %s, want %s", i, got, want)
		}
	}
}

func TestDeriveIgnoresExtraWhitespace(t *testing.T) {
	keys, err := Derive("  test test test test test test\ttest test test test test junk\n", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := crypto.PubkeyToAddress(keys[0].PublicKey).Hex(); got != "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" {
		t.Errorf("account 0 = %s", got)
	}
}

func TestSeedBIP39Vector(t *testing.T) {
	// First vector of the reference BIP-39 test set (passphrase "TREZOR").
	seed, err := Seed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "TREZOR")
	if err != nil {
		t.Fatal(err)
	}
	want := "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
	if got := hex.EncodeToString(seed); got != want {
		t.Errorf("seed = %s, want %s", got, want)
	}
}

func TestDeriveRejectsBadInput(t *testing.T) {
	for _, m := range []string{"", "test test test", "test test test test test test test test test test test test junk"} {
		if _, err := Derive(m, 1); !errors.Is(err, ErrMnemonic) {
			t.Errorf("Derive(%q) error = %v, want ErrMnemonic", m, err)
		}
	}
	if _, err := Derive(DevMnemonic, -1); !errors.Is(err, ErrCount) {
		t.Errorf("Derive(n=-1) error = %v, want ErrCount", err)
	}
	keys, err := Derive(DevMnemonic, 0)
	if err != nil || len(keys) != 0 {
		t.Errorf("Derive(n=0) = %d keys, %v", len(keys), err)
	}
}

func BenchmarkDerive10(b *testing.B) {
	for b.Loop() {
		if _, err := Derive(DevMnemonic, 10); err != nil {
			b.Fatal(err)
		}
	}
}
