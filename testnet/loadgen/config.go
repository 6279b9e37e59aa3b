package loadgen

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Transports for Config.Transport.
const (
	TransportHTTP = "http"
	TransportWS   = "ws"
)

// Defaults applied by Run to zero fields of Config.
const (
	DefaultAccounts       = 1000
	DefaultSendBatch      = 50
	DefaultConcurrency    = 500
	DefaultDuration       = 30 * time.Second
	DefaultDrain          = 10 * time.Second
	DefaultFundTimeout    = 60 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	// DefaultClosedLoopTxs is how many transfers are pre-signed in closed-loop
	// mode, where the rate is not known in advance.
	DefaultClosedLoopTxs = 100_000
	// MaxTxs bounds the pre-signed transactions (about 400 bytes of memory each).
	MaxTxs = 10_000_000
	// MinInterval is the shortest Config.Interval: a slice needs enough
	// commits for its percentiles to mean something.
	MinInterval = 100 * time.Millisecond
)

var (
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("loadgen: invalid config")
	// ErrFunding reports that the sender accounts could not be funded
	// (funder balance too low, transfers rejected or not committed in time).
	ErrFunding = errors.New("loadgen: funding failed")
	// ErrCommitTracking reports that the newHeads subscription or block
	// fetches failed, so commits could no longer be observed.
	ErrCommitTracking = errors.New("loadgen: commit tracking failed")
)

// Config describes one benchmark run.
type Config struct {
	// HTTPURLs are the nodes' JSON-RPC HTTP endpoints; with the HTTP
	// transport, batches go to them round-robin, and each sender account
	// always uses the same node so its nonces arrive in order.
	HTTPURLs []string
	// WSURL is a WebSocket endpoint, used to detect commits (newHeads) and,
	// with the ws transport, to send.
	WSURL string
	// Transport is how transactions are sent: "http" (default) or "ws".
	Transport string

	// Rate is the open-loop target in transactions per second. When zero the
	// run is closed-loop with Concurrency.
	Rate float64
	// Concurrency is the closed-loop limit of sent but not yet committed
	// transactions (default DefaultConcurrency); a rejected transaction frees
	// its slot at once, one accepted but never committed holds it until the
	// run ends. Ignored when Rate > 0.
	Concurrency int
	// Duration is the measured window; Warmup runs before it at the same
	// load and is not measured.
	Duration time.Duration
	Warmup   time.Duration
	// Interval, when set, also reports the window in slices of this length
	// (Report.Intervals), so a stall shows as the slices it slowed down
	// instead of only in the overall p99. At least MinInterval.
	Interval time.Duration
	// Drain bounds how long to wait after sending stops for the transactions
	// sent in the window to commit, so their latency is measured.
	Drain time.Duration

	// Accounts is the number of fresh sender accounts (default 1000). More
	// accounts than SendBatch × concurrent requests keeps a node from seeing
	// an account's nonces out of order.
	Accounts int
	// Recipients is the number of distinct addresses the transfers go to,
	// drawn at random; zero (the default) sends every transfer to a new
	// address, so every transaction also creates an account and the state
	// grows with the run.
	Recipients int
	// Seed makes the sender keys and recipients reproducible. Zero picks a
	// random seed (reported in Report.Seed), so a run never reuses accounts
	// that an earlier, overloaded run left with stuck transactions.
	Seed uint64
	// Txs is how many transfers to pre-sign. Zero means enough for Rate over
	// Warmup+Duration, or DefaultClosedLoopTxs in closed loop. A run that
	// uses them all stops early and reports Exhausted.
	Txs int
	// SendBatch is the number of eth_sendRawTransaction calls per JSON-RPC
	// batch request (default 50; 1 disables batching).
	SendBatch int
	// Senders is the number of concurrent send requests (default 4 per
	// endpoint, at least 8).
	Senders int

	// Funder is a funded key that pays the sender accounts.
	Funder *ecdsa.PrivateKey
	// FundTimeout bounds waiting for the funding transfers to commit.
	FundTimeout time.Duration
	// RequestTimeout bounds every single JSON-RPC request.
	RequestTimeout time.Duration

	Logger *slog.Logger
}

// withDefaults returns a copy of c with defaults filled in, or an error
// wrapping ErrConfig.
func (c Config) withDefaults() (Config, error) {
	if len(c.HTTPURLs) == 0 {
		return c, fmt.Errorf("%w: no HTTP URL", ErrConfig)
	}
	if c.WSURL == "" {
		return c, fmt.Errorf("%w: a WebSocket URL is needed to detect commits", ErrConfig)
	}
	switch c.Transport {
	case "":
		c.Transport = TransportHTTP
	case TransportHTTP, TransportWS:
	default:
		return c, fmt.Errorf("%w: transport %q, want %q or %q", ErrConfig, c.Transport, TransportHTTP, TransportWS)
	}
	if c.Funder == nil {
		return c, fmt.Errorf("%w: no funder key", ErrConfig)
	}
	if c.Rate < 0 || c.Concurrency < 0 || c.Duration < 0 || c.Warmup < 0 || c.Interval < 0 || c.Drain < 0 ||
		c.Accounts < 0 || c.Recipients < 0 || c.Txs < 0 || c.SendBatch < 0 || c.Senders < 0 || c.FundTimeout < 0 || c.RequestTimeout < 0 {
		return c, fmt.Errorf("%w: negative value", ErrConfig)
	}
	if c.Rate == 0 && c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Rate > 0 {
		c.Concurrency = 0
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Interval > 0 && c.Interval < MinInterval {
		return c, fmt.Errorf("%w: interval %s, at least %s", ErrConfig, c.Interval, MinInterval)
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.Accounts == 0 {
		c.Accounts = DefaultAccounts
	}
	if c.SendBatch == 0 {
		c.SendBatch = DefaultSendBatch
	}
	if c.Senders == 0 {
		c.Senders = max(8, 4*c.endpoints())
	}
	if c.FundTimeout == 0 {
		c.FundTimeout = DefaultFundTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Txs == 0 {
		if c.Rate > 0 {
			// A little slack so a generator that is exactly on time never
			// runs dry at the last tick.
			want := c.Rate * (c.Warmup + c.Duration).Seconds() * 1.02
			c.Txs = int(want) + c.SendBatch*c.endpoints()
		} else {
			c.Txs = DefaultClosedLoopTxs
		}
	}
	if c.Txs > MaxTxs {
		return c, fmt.Errorf("%w: %d transactions to pre-sign, at most %d", ErrConfig, c.Txs, MaxTxs)
	}
	if c.Accounts < c.endpoints() {
		return c, fmt.Errorf("%w: %d accounts for %d endpoints", ErrConfig, c.Accounts, c.endpoints())
	}
	for c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// endpoints is the number of send endpoints.
func (c Config) endpoints() int {
	if c.Transport == TransportWS {
		return 1
	}
	return len(c.HTTPURLs)
}
