package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/cocoledger/coco/core/batch"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/txpool/legacypool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

func TestIngressErrors(t *testing.T) {
	cfg := testConfig(3)
	cfg.GasLimit = 10_000_000 // below the Osaka per-transaction cap, to reach both checks
	s := newSim(t, nil, cfg)
	a := key(1)
	to := common.HexToAddress("0xbeef")
	fee, tip := big.NewInt(2*params.GWei), gwei

	// A committed transaction and a pending one, to collide with.
	committed := s.transfer(a, 0, to, big.NewInt(1))
	s.send(committed)
	s.mine()
	pending := s.transfer(a, 1, to, big.NewInt(1))
	s.send(pending)

	// Key 2 can afford one 50-ether transfer but not a second one.
	s.send(s.transfer(key(2), 0, to, new(big.Int).Mul(big.NewInt(50), ether)))

	other := types.LatestSignerForChainID(big.NewInt(1))
	badSig, _ := types.NewTx(&types.DynamicFeeTx{ChainID: s.c.ChainConfig().ChainID, Nonce: 2, GasTipCap: tip, GasFeeCap: fee, Gas: 21000, To: &to}).
		WithSignature(s.signer(), append(make([]byte, 64), 0))
	floorData := make([]byte, 1000)
	for i := range floorData {
		floorData[i] = 0xff
	}
	cases := []struct {
		name string
		tx   *types.Transaction
		want error
		msg  string // go-ethereum's message prefix
	}{
		{"oversized", s.dynTx(a, 2, &to, nil, 5_000_000, fee, tip, make([]byte, 130*1024)), txpool.ErrOversizedData, "oversized data"},
		{"blob", types.MustSignNewTx(a, s.signer(), &types.BlobTx{
			ChainID: uint256FromBig(s.c.ChainConfig().ChainID), Nonce: 2, GasTipCap: uint256FromBig(tip), GasFeeCap: uint256FromBig(fee),
			Gas: 21000, To: to, BlobFeeCap: uint256FromBig(gwei), BlobHashes: []common.Hash{{0x01}},
		}), core.ErrTxTypeNotSupported, "transaction type not supported: blob transactions are not supported"},
		{"unprotected", types.MustSignNewTx(a, types.HomesteadSigner{}, &types.LegacyTx{Nonce: 2, GasPrice: fee, Gas: 21000, To: &to}),
			ErrUnprotectedTx, "only replay-protected (EIP-155) transactions allowed over RPC"},
		{"wrong chain", types.MustSignNewTx(a, other, &types.DynamicFeeTx{ChainID: big.NewInt(1), Nonce: 2, GasTipCap: tip, GasFeeCap: fee, Gas: 21000, To: &to}),
			types.ErrInvalidChainId, "invalid sender: invalid chain id for signer"},
		{"bad signature", badSig, txpool.ErrInvalidSender, "invalid sender"},
		{"block gas", s.dynTx(a, 2, &to, nil, 12_000_000, fee, tip, nil), txpool.ErrGasLimit, "exceeds block gas limit"},
		{"tx gas cap", s.dynTx(a, 2, &to, nil, params.MaxTxGas+1, fee, tip, nil), core.ErrGasLimitTooHigh, "transaction gas limit too high"},
		{"intrinsic", s.dynTx(a, 2, &to, nil, 20_000, fee, tip, nil), core.ErrIntrinsicGas, "intrinsic gas too low"},
		{"floor", s.dynTx(a, 2, &to, nil, 40_000, fee, tip, floorData), core.ErrFloorDataGas, "insufficient gas for floor data gas cost"},
		{"fee cap", s.dynTx(a, 2, &to, nil, 21000, big.NewInt(1), big.NewInt(1), nil), core.ErrFeeCapTooLow, "max fee per gas less than block base fee"},
		{"tip above cap", s.dynTx(a, 2, &to, nil, 21000, fee, big.NewInt(3*params.GWei), nil), core.ErrTipAboveFeeCap, "max priority fee per gas higher than max fee per gas"},
		{"nonce low", s.transfer(a, 0, to, big.NewInt(2)), core.ErrNonceTooLow, "nonce too low"},
		{"nonce high", s.transfer(a, 2+65, to, big.NewInt(2)), core.ErrNonceTooHigh, "nonce too high"},
		{"no funds", s.transfer(key(9), 0, to, big.NewInt(1)), core.ErrInsufficientFunds, "insufficient funds for gas * price + value"},
		{"pending funds", s.transfer(key(2), 1, to, new(big.Int).Mul(big.NewInt(50), ether)), core.ErrInsufficientFunds, "insufficient funds for gas * price + value"},
		{"known pending", pending, txpool.ErrAlreadyKnown, "already known"},
		// Sent again after it was committed: go-ethereum says "nonce too low".
		{"known committed", committed, core.ErrNonceTooLow, "nonce too low"},
		{"underpriced replacement", s.dynTx(a, 1, &to, big.NewInt(1), 21000, big.NewInt(2*params.GWei+1), big.NewInt(params.GWei+1), nil), txpool.ErrReplaceUnderpriced, "replacement transaction underpriced"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.submitted())
			err := s.c.SendTransaction(context.Background(), tc.tx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.msg) {
				t.Errorf("message %q, want prefix %q", err, tc.msg)
			}
			if len(s.submitted()) != before {
				t.Error("rejected transaction was submitted")
			}
		})
	}
	if s.pendingNonce(addr(a)) != 2 {
		t.Errorf("pending nonce %d after rejections", s.pendingNonce(addr(a)))
	}
}

func TestAllowUnprotected(t *testing.T) {
	cfg := testConfig(1)
	cfg.AllowUnprotected = true
	s := newSim(t, nil, cfg)
	to := common.HexToAddress("0xbeef")
	s.send(types.MustSignNewTx(key(1), types.HomesteadSigner{}, &types.LegacyTx{Nonce: 0, GasPrice: gwei, Gas: 21000, To: &to, Value: big.NewInt(1)}))
	if b := s.mine(); len(b.Transactions()) != 1 {
		t.Fatal("unprotected transaction not included")
	}
}

func TestNonceGapIsHeld(t *testing.T) {
	s := newSim(t, nil, testConfig(1))
	k := key(1)
	to := common.HexToAddress("0xbeef")
	tx0, tx1, tx2 := s.transfer(k, 0, to, big.NewInt(1)), s.transfer(k, 1, to, big.NewInt(1)), s.transfer(k, 2, to, big.NewInt(1))

	s.send(tx2)
	s.send(tx1)
	if len(s.submitted()) != 0 {
		t.Fatal("gapped transactions were submitted")
	}
	if s.c.PendingTransaction(tx2.Hash()) == nil || s.pendingNonce(addr(k)) != 0 {
		t.Fatal("held transaction not visible, or counted in the pending nonce")
	}
	// Filling the gap submits all three in nonce order.
	s.send(tx0)
	got := s.submitted()
	if len(got) != 3 || got[0] != tx0.Hash() || got[1] != tx1.Hash() || got[2] != tx2.Hash() {
		t.Fatalf("submitted %v", got)
	}
	if s.pendingNonce(addr(k)) != 3 {
		t.Fatalf("pending nonce %d", s.pendingNonce(addr(k)))
	}
	if b := s.mine(); len(b.Transactions()) != 3 {
		t.Fatalf("block has %d txs", len(b.Transactions()))
	}
	if s.nonce(addr(k)) != 3 {
		t.Fatal("not all applied")
	}
}

// A gap filled by a transaction from another node (not through this pool)
// releases the held ones after the block.
func TestNonceGapFilledByBlock(t *testing.T) {
	s := newSim(t, nil, testConfig(1))
	k := key(1)
	to := common.HexToAddress("0xbeef")
	tx0, tx1 := s.transfer(k, 0, to, big.NewInt(1)), s.transfer(k, 1, to, big.NewInt(1))
	s.send(tx1)
	if _, err := s.c.Execute(execBlock(1, s.txsFor(nil, tx0))); err != nil {
		t.Fatal(err)
	}
	s.c.pool.wait()
	if got := s.submitted(); len(got) != 1 || got[0] != tx1.Hash() {
		t.Fatalf("after the gap was filled, submitted %v", got)
	}
	s.mine()
	if s.nonce(addr(k)) != 2 {
		t.Fatal("held transaction not applied")
	}
}

func TestReplacement(t *testing.T) {
	s := newSim(t, nil, testConfig(1))
	k := key(1)
	to := common.HexToAddress("0xbeef")
	orig := s.dynTx(k, 0, &to, big.NewInt(1), 21000, big.NewInt(2*params.GWei), gwei, nil)
	s.send(orig)
	// +5% is not enough; +10% on both fee cap and tip is.
	low := s.dynTx(k, 0, &to, big.NewInt(2), 21000, big.NewInt(2.1*params.GWei), big.NewInt(1.05*params.GWei), nil)
	if err := s.c.SendTransaction(context.Background(), low); !errors.Is(err, txpool.ErrReplaceUnderpriced) {
		t.Fatalf("5%% bump: %v", err)
	}
	repl := s.dynTx(k, 0, &to, big.NewInt(3), 21000, big.NewInt(2.2*params.GWei), big.NewInt(1.1*params.GWei), nil)
	s.send(repl)
	if s.c.PendingTransaction(repl.Hash()) == nil || s.c.PendingTransaction(orig.Hash()) != nil {
		t.Fatal("replacement not the pending one")
	}
	if got := s.submitted(); len(got) != 2 || got[1] != repl.Hash() {
		t.Fatalf("submitted %v", got)
	}
	// Both are ordered; the first applies and the other is excluded.
	b := s.mine()
	if len(b.Transactions()) != 1 || b.Transactions()[0].Hash() != orig.Hash() {
		t.Fatalf("included %v", b.Transactions())
	}
	if s.c.PendingTransaction(repl.Hash()) != nil || s.pendingNonce(addr(k)) != 1 {
		t.Fatal("excluded replacement still pending")
	}
	// Held transactions can be replaced too, without submitting anything.
	held := s.transfer(k, 5, to, big.NewInt(1))
	s.send(held)
	heldRepl := s.dynTx(k, 5, &to, big.NewInt(1), 21000, big.NewInt(3*params.GWei), big.NewInt(2*params.GWei), nil)
	s.send(heldRepl)
	if s.c.PendingTransaction(held.Hash()) != nil || s.c.PendingTransaction(heldRepl.Hash()) == nil || len(s.submitted()) != 0 {
		t.Fatal("held replacement")
	}
}

// An excluded transaction drops the sender's later ones from the pool: they
// cannot execute before the gap is refilled.
func TestGappedTransactionsAreHeldUntilThePredecessorLands(t *testing.T) {
	s := newSim(t, nil, testConfig(1))
	k := key(1)
	to := common.HexToAddress("0xbeef")
	txs := []*types.Transaction{s.transfer(k, 0, to, big.NewInt(1)), s.transfer(k, 1, to, big.NewInt(1)), s.transfer(k, 2, to, big.NewInt(1))}
	for _, tx := range txs {
		s.send(tx)
	}
	s.mu.Lock()
	s.txs = s.txs[1:] // nonce 0 is ordered later: 1 and 2 are excluded now
	s.mu.Unlock()
	if b := s.mine(); len(b.Transactions()) != 0 {
		t.Fatal("gapped transactions executed")
	}
	for _, tx := range txs {
		if s.c.PendingTransaction(tx.Hash()) == nil {
			t.Fatalf("transaction %d dropped after an exclusion caused by ordering", tx.Nonce())
		}
	}
	// Nonce 0 lands; the held followers are resubmitted and land next.
	if _, err := s.c.Execute(execBlock(2, s.txsFor(nil, txs[0]))); err != nil {
		t.Fatal(err)
	}
	s.c.pool.wait()
	if b := s.mine(); len(b.Transactions()) != 2 {
		t.Fatalf("block after the gap was filled has %d transactions, want 2", len(b.Transactions()))
	}
	if s.nonce(addr(k)) != 3 || s.pendingNonce(addr(k)) != 3 || s.c.PendingTransaction(txs[2].Hash()) != nil {
		t.Fatal("followers not applied")
	}
}

func TestMempoolFull(t *testing.T) {
	s := newSim(t, nil, testConfig(1))
	k := key(1)
	to := common.HexToAddress("0xbeef")
	s.fail = fmt.Errorf("node: %w", batch.ErrPoolFull)
	tx := s.transfer(k, 0, to, big.NewInt(1))
	err := s.c.SendTransaction(context.Background(), tx)
	if !errors.Is(err, legacypool.ErrTxPoolOverflow) || err.Error() != "txpool is full" {
		t.Fatalf("got %v", err)
	}
	if s.c.PendingTransaction(tx.Hash()) != nil || s.pendingNonce(addr(k)) != 0 {
		t.Fatal("refused transaction kept")
	}
	s.fail = nil
	s.send(tx)
	if s.pendingNonce(addr(k)) != 1 {
		t.Fatal("retry not accepted")
	}
}

// Many senders at once while blocks execute: every transaction lands once,
// in nonce order. Run with -race.
func TestConcurrentIngress(t *testing.T) {
	const senders, perSender = 8, 10
	s := newSim(t, nil, testConfig(senders))
	to := common.HexToAddress("0xbeef")
	txs := make([][]*types.Transaction, senders)
	for i := range senders {
		for n := range perSender {
			txs[i] = append(txs[i], s.transfer(key(i+1), uint64(n), to, big.NewInt(1)))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders*perSender)
	for i := range senders {
		wg.Go(func() {
			// Odd senders send in reverse: everything waits for nonce 0.
			order := txs[i]
			if i%2 == 1 {
				order = make([]*types.Transaction, perSender)
				for n := range perSender {
					order[n] = txs[i][perSender-1-n]
				}
			}
			for _, tx := range order {
				if err := s.c.SendTransaction(context.Background(), tx); err != nil {
					errs <- err
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for mined := false; !mined; {
		select {
		case <-done:
			mined = true
		default:
		}
		s.mine()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s.mine()
	for i := range senders {
		if n := s.nonce(addr(key(i + 1))); n != perSender {
			t.Errorf("sender %d nonce %d", i, n)
		}
	}
}
