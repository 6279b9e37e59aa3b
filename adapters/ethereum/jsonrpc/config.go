package jsonrpc

import (
	"crypto/ecdsa"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxBodyBytes         = 5 << 20
	DefaultBatchItemLimit       = 1000
	DefaultBatchResponseMaxSize = 25_000_000
	DefaultRPCGasCap            = 50_000_000
	DefaultEVMTimeout           = 5 * time.Second
	DefaultFilterTimeout        = 5 * time.Minute
	DefaultMaxLogsRange         = 10_000
)

// Config tunes the server. Zero fields take the defaults above.
type Config struct {
	// ClientVersion is what web3_clientVersion answers.
	ClientVersion string
	// MaxBodyBytes bounds an HTTP request body and a WebSocket message.
	MaxBodyBytes int
	// BatchItemLimit bounds the calls in one batch; BatchResponseMaxSize
	// bounds the bytes of one batch's answers.
	BatchItemLimit       int
	BatchResponseMaxSize int
	// RPCGasCap caps the gas of eth_call, eth_estimateGas and
	// eth_createAccessList.
	RPCGasCap uint64
	// EVMTimeout aborts one eth_call or eth_estimateGas.
	EVMTimeout time.Duration
	// FilterTimeout removes a polling filter not polled for this long.
	FilterTimeout time.Duration
	// MaxLogsRange bounds toBlock-fromBlock of eth_getLogs and
	// eth_getFilterLogs.
	MaxLogsRange uint64
	// CORSOrigins are the browser origins allowed over HTTP and WebSocket.
	// Nil allows every origin ("*"). An empty non-nil slice allows no
	// cross-origin HTTP request; over WebSocket go-ethereum then allows
	// http://localhost only. Requests without an Origin (non-browser
	// clients) are always served.
	CORSOrigins []string
	// PeerCount answers net_peerCount; nil answers 0.
	PeerCount func() int
	// DevKeys are development accounts. Only when set are eth_accounts,
	// eth_sendTransaction, eth_sign, eth_signTypedData_v4 and personal_sign
	// served; otherwise those methods do not exist.
	DevKeys []*ecdsa.PrivateKey
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.BatchItemLimit <= 0 {
		c.BatchItemLimit = DefaultBatchItemLimit
	}
	if c.BatchResponseMaxSize <= 0 {
		c.BatchResponseMaxSize = DefaultBatchResponseMaxSize
	}
	if c.RPCGasCap == 0 {
		c.RPCGasCap = DefaultRPCGasCap
	}
	if c.EVMTimeout <= 0 {
		c.EVMTimeout = DefaultEVMTimeout
	}
	if c.FilterTimeout <= 0 {
		c.FilterTimeout = DefaultFilterTimeout
	}
	if c.MaxLogsRange == 0 {
		c.MaxLogsRange = DefaultMaxLogsRange
	}
	if c.CORSOrigins == nil {
		c.CORSOrigins = []string{"*"}
	}
	if c.ClientVersion == "" {
		c.ClientVersion = "coco"
	}
	return c
}
