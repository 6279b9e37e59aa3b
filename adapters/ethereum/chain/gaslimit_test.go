package chain

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/params"
)

// Governance's block gas limit applies from the block that carries it, and
// the pool admits against it.
func TestGovernanceBlockGasLimit(t *testing.T) {
	s := newSim(t, nil, testConfig(1))
	genesisLimit := s.c.GasLimit()
	b := s.mine()
	if b.GasLimit() != genesisLimit {
		t.Fatalf("block gas limit %d, genesis %d", b.GasLimit(), genesisLimit)
	}
	eb := execBlock(s.c.Height()+1, nil)
	eb.Params.BlockGasLimit = 50_000
	if _, err := s.c.Execute(eb); err != nil {
		t.Fatal(err)
	}
	if got := s.c.BlockByNumber(eb.Number).GasLimit(); got != 50_000 {
		t.Fatalf("block gas limit %d, governance set 50000", got)
	}
	to := addr(key(2))
	tx := s.dynTx(key(1), 0, &to, big.NewInt(1), 60_000, big.NewInt(2*params.GWei), gwei, nil)
	if err := s.c.SendTransaction(t.Context(), tx); !errors.Is(err, txpool.ErrGasLimit) {
		t.Fatalf("transaction above the governance limit: %v", err)
	}
}
