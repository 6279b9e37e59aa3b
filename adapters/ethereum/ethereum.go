package ethereum

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/cocoledger/coco/adapters/ethereum/chain"
	"github.com/cocoledger/coco/adapters/ethereum/devkeys"
	"github.com/cocoledger/coco/adapters/ethereum/jsonrpc"
	"github.com/cocoledger/coco/adapters/ethereum/kv"
	"github.com/cocoledger/coco/core/node"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
)

// Config is the adapter's configuration.
type Config struct {
	// RPCAddr is where JSON-RPC (HTTP and WebSocket) listens.
	RPCAddr string `mapstructure:"rpc_addr"`
	ChainID uint64 `mapstructure:"chain_id"`
	// GasLimit is the block gas limit.
	GasLimit uint64 `mapstructure:"gas_limit"`
	// BaseFeeGwei is the constant base fee per gas.
	BaseFeeGwei uint64 `mapstructure:"base_fee_gwei"`
	// AllowUnprotected accepts pre-EIP-155 transactions.
	AllowUnprotected bool `mapstructure:"allow_unprotected"`
	// DevAccounts funded at genesis from DevMnemonic; in dev mode they also
	// sign eth_sendTransaction and friends.
	DevAccounts   int    `mapstructure:"dev_accounts"`
	DevMnemonic   string `mapstructure:"dev_mnemonic"`
	DevBalanceETH uint64 `mapstructure:"dev_balance_eth"`
	// MaxBodyBytes and BatchItemLimit bound JSON-RPC requests.
	MaxBodyBytes   int `mapstructure:"max_body_bytes"`
	BatchItemLimit int `mapstructure:"batch_item_limit"`
	// CORSOrigins allowed for browser dApps; ["*"] allows all.
	CORSOrigins []string `mapstructure:"cors_origins"`
	// WriteBufferMB bounds the state changes kept in memory before they are
	// written to the database together; a crash costs re-executing them.
	WriteBufferMB int `mapstructure:"write_buffer_mb"`
}

// DefaultConfig is the dev chain: id 49344 (0xC0C0), ten funded accounts.
func DefaultConfig() Config {
	c := chain.DefaultConfig()
	return Config{
		RPCAddr:        "127.0.0.1:8545",
		ChainID:        c.ChainID,
		GasLimit:       c.GasLimit,
		BaseFeeGwei:    1,
		DevAccounts:    10,
		DevMnemonic:    devkeys.DevMnemonic,
		DevBalanceETH:  10000,
		MaxBodyBytes:   jsonrpc.DefaultMaxBodyBytes,
		BatchItemLimit: jsonrpc.DefaultBatchItemLimit,
		CORSOrigins:    []string{"*"},
		WriteBufferMB:  c.WriteBufferBytes >> 20,
	}
}

// Validate checks the configuration once at start-up.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.RPCAddr); err != nil {
		return fmt.Errorf("eth rpc_addr %q: %w", c.RPCAddr, err)
	}
	if c.DevAccounts < 0 || c.DevAccounts > 1000 {
		return fmt.Errorf("eth dev_accounts %d: must be between 0 and 1000", c.DevAccounts)
	}
	if c.WriteBufferMB < 1 || c.WriteBufferMB > 256 {
		return fmt.Errorf("eth write_buffer_mb %d: must be between 1 and 256", c.WriteBufferMB)
	}
	g := Genesis{ChainID: c.ChainID, GasLimit: c.GasLimit, BaseFeeGwei: c.BaseFeeGwei}
	_, err := g.chainConfig(c, 0)
	return err
}

// Genesis is the Ethereum part of a network's genesis document: fixed for
// the life of the chain.
type Genesis struct {
	ChainID     uint64            `json:"chain_id"`
	GasLimit    uint64            `json:"gas_limit"`
	BaseFeeGwei uint64            `json:"base_fee_gwei"`
	Alloc       map[string]string `json:"alloc"` // address → balance in wei (decimal)
}

// GenesisApp builds the genesis section from the configuration, funding the
// configured development accounts.
func GenesisApp(cfg Config) (json.RawMessage, error) {
	keys, err := devkeys.Derive(cfg.DevMnemonic, cfg.DevAccounts)
	if err != nil {
		return nil, fmt.Errorf("dev accounts: %w", err)
	}
	balance := new(big.Int).Mul(new(big.Int).SetUint64(cfg.DevBalanceETH), big.NewInt(params.Ether))
	g := Genesis{ChainID: cfg.ChainID, GasLimit: cfg.GasLimit, BaseFeeGwei: cfg.BaseFeeGwei, Alloc: map[string]string{}}
	for _, k := range keys {
		g.Alloc[crypto.PubkeyToAddress(k.PublicKey).Hex()] = balance.String()
	}
	return json.Marshal(g)
}

func (g *Genesis) chainConfig(cfg Config, genesisMs uint64) (chain.Config, error) {
	cc := chain.DefaultConfig()
	cc.ChainID = g.ChainID
	cc.GasLimit = g.GasLimit
	cc.BaseFee = new(big.Int).Mul(new(big.Int).SetUint64(g.BaseFeeGwei), big.NewInt(params.GWei))
	cc.AllowUnprotected = cfg.AllowUnprotected
	cc.WriteBufferBytes = cfg.WriteBufferMB << 20
	cc.GenesisTimeMs = genesisMs
	cc.Alloc = types.GenesisAlloc{}
	for addr, bal := range g.Alloc {
		if !common.IsHexAddress(addr) {
			return cc, fmt.Errorf("eth genesis alloc: %q is not an address", addr)
		}
		b, ok := new(big.Int).SetString(bal, 10)
		if !ok || b.Sign() < 0 {
			return cc, fmt.Errorf("eth genesis alloc: balance %q of %s", bal, addr)
		}
		cc.Alloc[common.HexToAddress(addr)] = types.Account{Balance: b}
	}
	return cc, cc.Validate()
}

// Service is the running adapter.
type Service struct {
	Chain   *chain.Chain
	RPC     *jsonrpc.Server
	DevKeys []*ecdsa.PrivateKey
	log     *slog.Logger
	srv     *http.Server
	ln      net.Listener
}

// New builds the chain on the node's "eth" namespace and registers it with
// the node. dev enables the development accounts' signing methods.
func New(n *node.Node, cfg Config, dev bool, version string, log *slog.Logger) (*Service, error) {
	keys, err := devkeys.Derive(cfg.DevMnemonic, cfg.DevAccounts)
	if err != nil {
		return nil, fmt.Errorf("dev accounts: %w", err)
	}
	raw, ok := n.Genesis().Apps[chain.Namespace]
	if !ok {
		return nil, fmt.Errorf("genesis of network %q has no %q section", n.Genesis().Network, chain.Namespace)
	}
	var g Genesis
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("eth genesis: %w", err)
	}
	if g.ChainID != cfg.ChainID {
		log.Warn("chain id is fixed at genesis; ignoring the configured one", "genesis", g.ChainID, "configured", cfg.ChainID)
	}
	cc, err := g.chainConfig(cfg, n.Genesis().TimeMs)
	if err != nil {
		return nil, err
	}
	db := rawdb.NewDatabase(kv.New(n.State().Namespace(chain.Namespace)))
	c, err := chain.New(db, cc, n, log.With("component", "eth"))
	if err != nil {
		return nil, err
	}
	n.Register(c)
	rpcCfg := jsonrpc.Config{
		ClientVersion:  version,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		BatchItemLimit: cfg.BatchItemLimit,
		CORSOrigins:    cfg.CORSOrigins,
	}
	if dev {
		rpcCfg.DevKeys = keys
	}
	rpcSrv, err := jsonrpc.New(c, rpcCfg, log.With("component", "jsonrpc"))
	if err != nil {
		return nil, err
	}
	return &Service{Chain: c, RPC: rpcSrv, DevKeys: keys, log: log}, nil
}

// Listen binds the JSON-RPC address; extra handlers (status, metrics) are
// served on the same port.
func (s *Service) Listen(addr string, extra map[string]http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("eth rpc listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	for path, h := range extra {
		mux.Handle(path, h)
	}
	mux.Handle("/", s.RPC.Handler())
	s.ln = ln
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("json-rpc server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the bound JSON-RPC address.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// DevAddresses are the funded development accounts.
func (s *Service) DevAddresses() []common.Address {
	out := make([]common.Address, len(s.DevKeys))
	for i, k := range s.DevKeys {
		out[i] = crypto.PubkeyToAddress(k.PublicKey)
	}
	return out
}

// Close stops serving; the node stops the chain.
func (s *Service) Close() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
	}
	s.RPC.Close()
}
