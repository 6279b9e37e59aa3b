package e2e

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
)

type served struct {
	hash  common.Hash
	block common.Hash
	num   uint64
}

// kill -9 while transfers stream in: every receipt the node served before the
// kill is still there after the restart, in the same block, and no value was
// created or destroyed.
func TestKill9UnderLoadKeepsServedReceipts(t *testing.T) {
	dir := t.TempDir()
	n := startDev(t, dir)
	c := n.client(t)
	signer := types.LatestSignerForChainID(big.NewInt(49344))
	sink := common.HexToAddress("0x00000000000000000000000000000000000051c0")
	senders := devKeys[3:9]

	var (
		mu       sync.Mutex
		receipts []served
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, key := range senders {
		wg.Go(func() { streamTransfers(ctx, c, key, signer, sink, &mu, &receipts) })
	}
	// Let load run until a good number of receipts were served, then kill.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(receipts)
		mu.Unlock()
		if got >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.kill()
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(receipts) < 50 {
		t.Fatalf("only %d receipts served before the kill", len(receipts))
	}

	n2 := startDev(t, dir)
	c2 := n2.client(t)
	cctx := ctxT(t, 2*time.Minute)
	for _, s := range receipts {
		r, err := c2.TransactionReceipt(cctx, s.hash)
		if err != nil {
			t.Fatalf("receipt %s (block %d) served before kill -9 is gone: %v", s.hash, s.num, err)
		}
		if r.BlockHash != s.block || r.Status != 1 {
			t.Fatalf("receipt %s moved from block %s to %s", s.hash, s.block, r.BlockHash)
		}
	}
	// Conservation: senders + sink + coinbase + burnt base fees = genesis funds.
	head, err := c2.BlockNumber(cctx)
	if err != nil {
		t.Fatal(err)
	}
	total := new(big.Int)
	for _, key := range senders {
		b, _ := c2.BalanceAt(cctx, crypto.PubkeyToAddress(key.PublicKey), nil)
		total.Add(total, b)
	}
	sinkBal, _ := c2.BalanceAt(cctx, sink, nil)
	total.Add(total, sinkBal)
	burnt := new(big.Int)
	var coinbase common.Address
	for i := uint64(1); i <= head; i++ {
		h, err := c2.HeaderByNumber(cctx, new(big.Int).SetUint64(i))
		if err != nil {
			t.Fatal(err)
		}
		coinbase = h.Coinbase
		burnt.Add(burnt, new(big.Int).Mul(h.BaseFee, new(big.Int).SetUint64(h.GasUsed)))
	}
	cb, _ := c2.BalanceAt(cctx, coinbase, nil)
	total.Add(total, cb).Add(total, burnt)
	want := new(big.Int).Mul(big.NewInt(int64(len(senders))*10000), big.NewInt(params.Ether))
	if total.Cmp(want) != 0 {
		t.Fatalf("value not conserved across kill -9: have %v, want %v", total, want)
	}
	n2.stop()
}

// streamTransfers sends transfers one after another from key, recording each
// receipt the node serves, until ctx ends or the node dies.
func streamTransfers(ctx context.Context, c *ethclient.Client, key *ecdsa.PrivateKey, signer types.Signer, to common.Address, mu *sync.Mutex, out *[]served) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := c.PendingNonceAt(ctx, from)
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		// A handful in flight per sender keeps the batcher busy.
		var sent []common.Hash
		for range 8 {
			tx := types.MustSignNewTx(key, signer, &types.DynamicFeeTx{
				ChainID: big.NewInt(49344), Nonce: nonce, To: &to, Value: big.NewInt(1), Gas: 21000,
				GasTipCap: big.NewInt(params.GWei), GasFeeCap: big.NewInt(3 * params.GWei),
			})
			if err := c.SendTransaction(ctx, tx); err != nil {
				return
			}
			nonce++
			sent = append(sent, tx.Hash())
		}
		for _, h := range sent {
			for {
				r, err := c.TransactionReceipt(ctx, h)
				if err == nil {
					mu.Lock()
					*out = append(*out, served{hash: h, block: r.BlockHash, num: r.BlockNumber.Uint64()})
					mu.Unlock()
					break
				}
				if ctx.Err() != nil || err.Error() != "not found" {
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
}
