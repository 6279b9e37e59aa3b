package chain

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// ErrConfig marks an invalid Config.
var ErrConfig = errors.New("invalid ethereum chain config")

// Config describes the chain. ChainID, GenesisTimeMs and Alloc are fixed at
// genesis; the others apply to every block executed from now on.
type Config struct {
	ChainID uint64 `mapstructure:"chain_id"`
	// GasLimit is the block gas limit.
	GasLimit uint64 `mapstructure:"gas_limit"`
	// BaseFee is the constant base fee per gas, in wei. Coco sets fees by
	// governance, not by EIP-1559 dynamics.
	BaseFee *big.Int `mapstructure:"base_fee"`
	// Coinbase receives the priority fees.
	Coinbase      common.Address     `mapstructure:"coinbase"`
	GenesisTimeMs uint64             `mapstructure:"genesis_time_ms"`
	Alloc         types.GenesisAlloc `mapstructure:"alloc"`
	// AllowUnprotected accepts legacy transactions without EIP-155 replay
	// protection through SendTransaction.
	AllowUnprotected bool `mapstructure:"allow_unprotected"`
	// NonceGapLimit is how far above the pending nonce a transaction may be;
	// such a transaction is held locally until the gap is filled.
	NonceGapLimit uint64 `mapstructure:"nonce_gap_limit"`
	// MaxTxSize bounds an incoming transaction's encoded size.
	MaxTxSize uint64 `mapstructure:"max_tx_size"`
	// TrieCacheBytes and StateCacheBytes are the clean caches of trie
	// nodes and of flat accounts and slots; zero disables them.
	TrieCacheBytes  int `mapstructure:"trie_cache_bytes"`
	StateCacheBytes int `mapstructure:"state_cache_bytes"`
	// WriteBufferBytes bounds the state changes gathered in memory below the
	// latest blocks before they are written to disk together (go-ethereum's
	// path-scheme write buffer; see persist.go). State lost in a crash is
	// executed again from the ledger on restart, so a larger buffer costs
	// restart time, not data.
	WriteBufferBytes int `mapstructure:"write_buffer_bytes"`
}

// DefaultConfig is a chain with id 49344, a 1e9 block gas limit and a 1 gwei
// base fee.
func DefaultConfig() Config {
	return Config{
		ChainID:         49344,
		GasLimit:        1_000_000_000,
		BaseFee:         big.NewInt(params.GWei),
		NonceGapLimit:   64,
		MaxTxSize:       128 * 1024, // go-ethereum's txpool limit
		TrieCacheBytes:  64 << 20,
		StateCacheBytes: 32 << 20,
		// Half of go-ethereum's default: every block not on disk is
		// executed again on restart, before the node rejoins consensus.
		WriteBufferBytes: 32 << 20,
	}
}

// Validate checks the configuration once at start-up.
func (c Config) Validate() error {
	switch {
	case c.ChainID == 0:
		return fmt.Errorf("%w: chain id is zero", ErrConfig)
	case c.GasLimit < params.TxGas:
		return fmt.Errorf("%w: gas limit %d below %d", ErrConfig, c.GasLimit, params.TxGas)
	case c.BaseFee == nil || c.BaseFee.Sign() < 0 || c.BaseFee.BitLen() > 256:
		return fmt.Errorf("%w: base fee must be set, non-negative and fit 256 bits", ErrConfig)
	case c.MaxTxSize == 0:
		return fmt.Errorf("%w: max tx size is zero", ErrConfig)
	case c.TrieCacheBytes < 0 || c.StateCacheBytes < 0:
		return fmt.Errorf("%w: negative cache size", ErrConfig)
	case c.WriteBufferBytes <= 0 || c.WriteBufferBytes > maxWriteBuffer:
		return fmt.Errorf("%w: write buffer of %d bytes, want 1 to %d", ErrConfig, c.WriteBufferBytes, maxWriteBuffer)
	}
	for addr := range core.SystemContractAllocs() {
		if _, ok := c.Alloc[addr]; ok {
			return fmt.Errorf("%w: alloc overrides system contract %v", ErrConfig, addr)
		}
	}
	return nil
}

// chainConfig is go-ethereum's dev chain with every fork up to Osaka active
// at genesis. Bogota, which the dev config also enables, is a fork still in
// design that reprices opcodes without the rest of Amsterdam: it is left out
// so gas matches what wallets and solc (target osaka) expect.
func (c Config) chainConfig() *params.ChainConfig {
	cc := *params.AllDevChainProtocolChanges
	cc.ChainID = new(big.Int).SetUint64(c.ChainID)
	cc.AmsterdamTime = nil
	cc.BogotaTime = nil
	return &cc
}

// genesis is the genesis specification: the user's alloc plus the system
// contracts the active forks call into, as in `geth --dev`.
func (c Config) genesis() *core.Genesis {
	alloc := make(types.GenesisAlloc, len(c.Alloc)+8)
	for addr, acc := range c.Alloc {
		alloc[addr] = acc
	}
	for addr, acc := range core.SystemContractAllocs() {
		alloc[addr] = acc
	}
	return &core.Genesis{
		Config:     c.chainConfig(),
		Timestamp:  c.GenesisTimeMs / 1000,
		GasLimit:   c.GasLimit,
		BaseFee:    new(big.Int).Set(c.BaseFee),
		Difficulty: big.NewInt(0),
		Coinbase:   c.Coinbase,
		Alloc:      alloc,
	}
}
