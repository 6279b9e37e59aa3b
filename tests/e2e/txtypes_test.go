package e2e

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"
)

// Every transaction type a wallet sends is accepted; blob transactions are
// refused with a clear error.
func TestDevNodeAcceptsEveryTransactionType(t *testing.T) {
	n := startDev(t, t.TempDir())
	c := n.client(t)
	ctx := ctxT(t, time.Minute)
	chainID := big.NewInt(49344)
	signer := types.LatestSignerForChainID(chainID)
	key, authority := devKeys[6], devKeys[7]
	to := common.HexToAddress("0x00000000000000000000000000000000000000bb")
	gp := big.NewInt(2 * params.GWei)

	txs := []*types.Transaction{
		types.MustSignNewTx(key, types.NewEIP155Signer(chainID), &types.LegacyTx{Nonce: 0, To: &to, Value: big.NewInt(1), Gas: 21000, GasPrice: gp}),
		types.MustSignNewTx(key, signer, &types.AccessListTx{ChainID: chainID, Nonce: 1, To: &to, Value: big.NewInt(1), Gas: 30000, GasPrice: gp,
			AccessList: types.AccessList{{Address: to, StorageKeys: []common.Hash{{}}}}}),
		types.MustSignNewTx(key, signer, &types.DynamicFeeTx{ChainID: chainID, Nonce: 2, To: &to, Value: big.NewInt(1), Gas: 21000, GasTipCap: big.NewInt(1), GasFeeCap: gp}),
	}
	// EIP-7702: authority delegates its code to `delegate`; key pays.
	delegate := common.HexToAddress("0x000000000000000000000000000000000000d1e9")
	auth, err := types.SignSetCode(authority, types.SetCodeAuthorization{ChainID: *uint256.MustFromBig(chainID), Address: delegate, Nonce: 0})
	if err != nil {
		t.Fatal(err)
	}
	txs = append(txs, types.MustSignNewTx(key, signer, &types.SetCodeTx{
		ChainID: uint256.MustFromBig(chainID), Nonce: 3, To: to, Value: uint256.NewInt(1), Gas: 100000,
		GasTipCap: uint256.NewInt(1), GasFeeCap: uint256.MustFromBig(gp), AuthList: []types.SetCodeAuthorization{auth},
	}))
	for _, tx := range txs {
		if err := c.SendTransaction(ctx, tx); err != nil {
			t.Fatalf("type %d: %v", tx.Type(), err)
		}
	}
	for _, tx := range txs {
		r := waitReceipt(t, c, tx.Hash())
		if r.Status != 1 || r.Type != tx.Type() {
			t.Fatalf("type %d: status %d, receipt type %d", tx.Type(), r.Status, r.Type)
		}
		got, _, err := c.TransactionByHash(ctx, tx.Hash())
		if err != nil || got.Hash() != tx.Hash() || got.Type() != tx.Type() {
			t.Fatalf("type %d lookup: %v", tx.Type(), err)
		}
	}
	code, err := c.CodeAt(ctx, crypto.PubkeyToAddress(authority.PublicKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0xef, 0x01, 0x00}, delegate.Bytes()...); !bytes.Equal(code, want) {
		t.Fatalf("authority code %x, want delegation %x", code, want)
	}

	// Blob transactions: refused with a clear error, nothing changes.
	blob := types.MustSignNewTx(key, signer, &types.BlobTx{
		ChainID: uint256.MustFromBig(chainID), Nonce: 4, To: to, Gas: 21000,
		GasTipCap: uint256.NewInt(1), GasFeeCap: uint256.MustFromBig(gp), BlobFeeCap: uint256.NewInt(1),
		BlobHashes: []common.Hash{{0x01}},
	})
	err = c.SendTransaction(ctx, blob)
	if err == nil || !strings.Contains(err.Error(), "not supported") || !strings.Contains(err.Error(), "blob") {
		t.Fatalf("blob transaction: %v", err)
	}
	if nonce, _ := c.PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey)); nonce != 4 {
		t.Fatalf("nonce after refused blob tx = %d, want 4", nonce)
	}
}
