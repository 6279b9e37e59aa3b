package chain

import (
	"context"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/consensus"
	"github.com/ethereum/go-ethereum/consensus/beacon"
	"github.com/ethereum/go-ethereum/consensus/ethash"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/state"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
)

// gethChain lets go-ethereum's own block processor read our chain.
type gethChain struct{ c *Chain }

func (g gethChain) Config() *params.ChainConfig              { return g.c.ChainConfig() }
func (g gethChain) CurrentHeader() *types.Header             { return g.c.CurrentHeader() }
func (g gethChain) GetHeaderByNumber(n uint64) *types.Header { return g.c.HeaderByNumber(n) }
func (g gethChain) GetHeaderByHash(h common.Hash) *types.Header {
	return g.c.HeaderByHash(h)
}
func (g gethChain) GetHeader(h common.Hash, _ uint64) *types.Header { return g.c.HeaderByHash(h) }
func (g gethChain) Engine() consensus.Engine                        { return beacon.New(ethash.NewFaker()) }

// go-ethereum, processing our blocks itself (signature recovery, system
// calls, receipts, requests), reaches the same gas used, bloom, receipt
// root, requests hash and state root.
func TestGethAgrees(t *testing.T) {
	s := newSim(t, nil, testConfig(2))
	k := key(1)
	to := common.HexToAddress("0xbeef")
	s.send(s.dynTx(k, 0, nil, nil, 200_000, big.NewInt(2*params.GWei), gwei, common.FromHex(counterInit)))
	s.send(s.transfer(key(2), 0, to, ether))
	s.mine()
	contract := s.c.Receipts(s.c.CurrentHeader().Hash())[0].ContractAddress
	s.send(s.dynTx(k, 1, &contract, nil, 100_000, big.NewInt(2*params.GWei), gwei, common.HexToHash("0x01").Bytes()))
	s.send(types.MustSignNewTx(key(2), s.signer(), &types.LegacyTx{Nonce: 1, GasPrice: big.NewInt(5 * params.GWei), Gas: 50_000, To: &contract, Data: []byte{7}}))
	s.mine()
	s.mine() // an empty block: system calls only

	processor := core.NewStateProcessor(gethChain{s.c})
	validator := core.NewBlockValidator(s.c.ChainConfig(), nil)
	for n := uint64(1); n <= s.c.Height(); n++ {
		block := s.c.BlockByNumber(n)
		parent := s.c.HeaderByNumber(n - 1)
		st, err := state.New(parent.Root, s.c.sdb)
		if err != nil {
			t.Fatal(err)
		}
		res, err := processor.Process(context.Background(), block, st, nil, nil, vm.Config{}, nil)
		if err != nil {
			t.Fatalf("block %d: go-ethereum cannot process it: %v", n, err)
		}
		if err := validator.ValidateState(block, st, res, false); err != nil {
			t.Fatalf("block %d: %v", n, err)
		}
	}
}
