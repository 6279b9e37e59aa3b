package chain

import (
	"math/big"
	"testing"

	coretypes "github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/common"
)

// In the bft trust model a replica gets transactions without the sender
// that another node's ingress verified, and recovers every signature itself
// (in parallel). It must reach exactly the state of a replica that trusted
// the senders, and leave out a transaction whose signature is forged.
func TestRecoveredSendersMatchTrustedSenders(t *testing.T) {
	trusted := newSim(t, nil, testConfig(100))
	verifying := newSim(t, nil, testConfig(100))
	to := common.HexToAddress("0xbeef")
	var withSender, withoutSender []coretypes.Tx
	for i := 1; i <= 100; i++ {
		tx := trusted.transfer(key(i), 0, to, big.NewInt(int64(i)))
		bin, _ := tx.MarshalBinary()
		withSender = append(withSender, coretypes.Tx{Namespace: Namespace, Payload: bin, Sender: addr(key(i)).Bytes()})
		withoutSender = append(withoutSender, coretypes.Tx{Namespace: Namespace, Payload: bin})
	}
	// A transaction whose signature does not match: an impostor's.
	forged := trusted.transfer(key(1), 1, to, big.NewInt(1000))
	v, r, s := forged.RawSignatureValues()
	bad, _ := forged.WithSignature(trusted.signer(), append(append(common.LeftPadBytes(r.Bytes(), 32), common.LeftPadBytes(new(big.Int).Add(s, big.NewInt(1)).Bytes(), 32)...), byte(v.Uint64())))
	badBin, _ := bad.MarshalBinary()
	withoutSender = append(withoutSender, coretypes.Tx{Namespace: Namespace, Payload: badBin})

	rootTrusted, err := trusted.c.Execute(execBlock(1, withSender))
	if err != nil {
		t.Fatal(err)
	}
	rootVerified, err := verifying.c.Execute(execBlock(1, withoutSender))
	if err != nil {
		t.Fatal(err)
	}
	if rootTrusted != rootVerified {
		t.Fatal("recovering senders gave another state than trusting them")
	}
	if n := len(verifying.c.BlockByNumber(1).Transactions()); n != 100 {
		t.Fatalf("block has %d transactions, want the 100 genuine ones", n)
	}
	if got := verifying.balance(to); got.Cmp(big.NewInt(5050)) != 0 {
		t.Fatalf("recipient got %v, want 5050", got)
	}
}

// Batches from several nodes, or a view change, can order a sender's
// transaction before its predecessor. It is left out of that block but not
// lost: the node that accepted it resubmits it once the gap is filled.
func TestTransactionOrderedBeforeItsPredecessorIsResubmitted(t *testing.T) {
	s := newSim(t, nil, testConfig(2))
	to := common.HexToAddress("0xbeef")
	tx0 := s.transfer(key(1), 0, to, big.NewInt(1))
	tx1 := s.transfer(key(1), 1, to, big.NewInt(2))
	s.send(tx0)
	s.send(tx1)
	s.c.pool.wait()
	s.mu.Lock()
	first, second := s.txs[0], s.txs[1]
	s.txs = nil
	s.mu.Unlock()

	if _, err := s.c.Execute(execBlock(1, []coretypes.Tx{second})); err != nil {
		t.Fatal(err)
	}
	s.c.pool.wait()
	if s.c.PendingTransaction(tx1.Hash()) == nil {
		t.Fatal("transaction ordered ahead of its predecessor was dropped")
	}
	if _, err := s.c.Execute(execBlock(2, []coretypes.Tx{first})); err != nil {
		t.Fatal(err)
	}
	s.c.pool.wait()
	if got := s.submitted(); len(got) != 1 || got[0] != tx1.Hash() {
		t.Fatalf("resubmitted %v, want %v", got, tx1.Hash())
	}
	b := s.mine()
	if len(b.Transactions()) != 1 || b.Transactions()[0].Hash() != tx1.Hash() {
		t.Fatal("resubmitted transaction not included")
	}
	if got := s.balance(to); got.Int64() != 3 {
		t.Fatalf("recipient has %v, want 3", got)
	}
}
