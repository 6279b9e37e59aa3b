package loadgen

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

func decode(t *testing.T, raw string) *types.Transaction {
	t.Helper()
	b, err := hexutil.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestPresign(t *testing.T) {
	const accounts, perAccount, endpoints = 7, 5, 3
	keys := senderKeys(42, accounts)
	nonces := []uint64{0, 3, 0, 9, 1, 0, 100}
	chainID := big.NewInt(4242)
	f := newFees(big.NewInt(1000), big.NewInt(7), nil)
	p, err := presign(keys, nonces, perAccount, endpoints, 0, chainID, f, 42)
	if err != nil {
		t.Fatal(err)
	}
	if p.len() != accounts*perAccount {
		t.Fatalf("%d txs, want %d", p.len(), accounts*perAccount)
	}
	signer := types.LatestSignerForChainID(chainID)
	seenHash := map[common.Hash]bool{}
	seenTx := 0
	for k, stream := range p.streams {
		next := map[int]uint64{} // account -> next expected nonce in this stream
		for _, i := range stream {
			seenTx++
			tx := decode(t, p.raw[i])
			if tx.Hash() != p.hashes[i] {
				t.Fatalf("tx %d: hash %s, plan says %s", i, tx.Hash(), p.hashes[i])
			}
			if seenHash[tx.Hash()] {
				t.Fatalf("duplicate hash %s", tx.Hash())
			}
			seenHash[tx.Hash()] = true
			from, err := types.Sender(signer, tx)
			if err != nil {
				t.Fatalf("tx %d: %v", i, err)
			}
			a := int(p.from[i])
			if want := crypto.PubkeyToAddress(keys[a].PublicKey); from != want {
				t.Fatalf("tx %d recovers to %s, want account %d %s", i, from, a, want)
			}
			if a%endpoints != k {
				t.Errorf("account %d in stream %d, want %d", a, k, a%endpoints)
			}
			want, ok := next[a]
			if !ok {
				want = nonces[a]
			}
			if tx.Nonce() != want {
				t.Errorf("account %d: nonce %d, want %d", a, tx.Nonce(), want)
			}
			next[a] = tx.Nonce() + 1
			if tx.ChainId().Cmp(chainID) != 0 || tx.Type() != types.DynamicFeeTxType ||
				tx.Gas() != 21000 || tx.Value().Cmp(big.NewInt(1)) != 0 ||
				tx.GasFeeCap().Cmp(big.NewInt(2007)) != 0 || tx.GasTipCap().Cmp(big.NewInt(7)) != 0 {
				t.Errorf("tx %d: chain %s type %d gas %d value %s feeCap %s tip %s", i,
					tx.ChainId(), tx.Type(), tx.Gas(), tx.Value(), tx.GasFeeCap(), tx.GasTipCap())
			}
		}
		for a, n := range next {
			if n != nonces[a]+perAccount {
				t.Errorf("account %d ends at nonce %d, want %d", a, n, nonces[a]+perAccount)
			}
		}
	}
	if seenTx != p.len() {
		t.Errorf("streams hold %d txs, plan %d", seenTx, p.len())
	}
}

func TestPresignLegacy(t *testing.T) {
	keys := senderKeys(1, 2)
	chainID := big.NewInt(5)
	p, err := presign(keys, []uint64{0, 0}, 2, 1, 0, chainID, newFees(nil, nil, big.NewInt(9)), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.len() {
		tx := decode(t, p.raw[i])
		if tx.Type() != types.LegacyTxType || tx.GasPrice().Int64() != 9 || tx.ChainId().Int64() != 5 {
			t.Errorf("tx %d: type %d price %s chain %s", i, tx.Type(), tx.GasPrice(), tx.ChainId())
		}
		if _, err := types.Sender(types.LatestSignerForChainID(chainID), tx); err != nil {
			t.Error(err)
		}
	}
}

func TestPresignRejectsTooFewAccounts(t *testing.T) {
	if _, err := presign(senderKeys(1, 2), []uint64{0, 0}, 1, 3, 0, big.NewInt(1), newFees(nil, nil, big.NewInt(1)), 1); err == nil {
		t.Error("2 accounts for 3 endpoints accepted")
	}
}

func TestSenderKeysReproducible(t *testing.T) {
	a, b, c := senderKeys(7, 3), senderKeys(7, 3), senderKeys(8, 3)
	for i := range a {
		if !a[i].Equal(b[i]) {
			t.Errorf("key %d differs for the same seed", i)
		}
		if a[i].Equal(c[i]) {
			t.Errorf("key %d equal for different seeds", i)
		}
	}
	if a[0].Equal(a[1]) {
		t.Error("keys 0 and 1 are equal")
	}
}

func TestFundAmountCoversWorstFee(t *testing.T) {
	f := newFees(big.NewInt(10), big.NewInt(1), nil) // fee cap 21
	got := fundAmount(3, f)
	want := big.NewInt(3 * (21*21000 + 1))
	if got.Cmp(want) != 0 {
		t.Errorf("fundAmount = %s, want %s", got, want)
	}
}

func BenchmarkPresign(b *testing.B) {
	keys := senderKeys(1, 100)
	nonces := make([]uint64, len(keys))
	f := newFees(big.NewInt(1), big.NewInt(1), nil)
	for b.Loop() {
		if _, err := presign(keys, nonces, 10, 1, 0, big.NewInt(1), f, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// By default every transfer goes to a new address; with recipients set,
// to that many addresses only.
func TestPresignRecipients(t *testing.T) {
	keys := senderKeys(7, 4)
	nonces := make([]uint64, len(keys))
	f := newFees(nil, nil, big.NewInt(1))
	distinct := func(recipients int) int {
		t.Helper()
		p, err := presign(keys, nonces, 50, 2, recipients, big.NewInt(1), f, 3)
		if err != nil {
			t.Fatal(err)
		}
		to := map[common.Address]bool{}
		for _, raw := range p.raw {
			to[*decode(t, raw).To()] = true
		}
		return len(to)
	}
	if got := distinct(0); got != len(keys)*50 {
		t.Fatalf("%d distinct recipients for %d fresh transfers", got, len(keys)*50)
	}
	if got := distinct(5); got != 5 {
		t.Fatalf("%d distinct recipients, want 5", got)
	}
}
