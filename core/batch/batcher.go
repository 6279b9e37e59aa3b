package batch

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cocoledger/coco/core/types"
	"github.com/prometheus/client_golang/prometheus"
)

// Sentinel errors for Submit.
var (
	// ErrPoolFull means the mempool is at capacity; the client should retry later.
	ErrPoolFull = errors.New("mempool is full")
	// ErrTooLarge means one transaction is larger than a whole batch may be.
	ErrTooLarge = errors.New("transaction too large for a batch")
	// ErrStopped means the batcher is not running.
	ErrStopped = errors.New("batcher stopped")
)

// Config bounds batches and the mempool.
type Config struct {
	MaxTxs   int           `mapstructure:"max_txs"`   // transactions per batch
	MaxBytes int           `mapstructure:"max_bytes"` // payload bytes per batch
	Linger   time.Duration `mapstructure:"linger"`    // how long a non-full batch waits for more
	PoolSize int           `mapstructure:"pool_size"` // transactions queued before Submit refuses
}

// DefaultConfig suits one to four nodes on a small machine.
func DefaultConfig() Config {
	return Config{MaxTxs: 2000, MaxBytes: 2 << 20, Linger: 2 * time.Millisecond, PoolSize: 50000}
}

// Validate checks the configuration once at start-up.
func (c Config) Validate() error {
	switch {
	case c.MaxTxs < 1:
		return fmt.Errorf("batch max_txs %d: must be positive", c.MaxTxs)
	case c.MaxBytes < 64<<10:
		return fmt.Errorf("batch max_bytes %d: must be at least 64 KiB", c.MaxBytes)
	case c.Linger < 0:
		return fmt.Errorf("batch linger %v: must not be negative", c.Linger)
	case c.PoolSize < c.MaxTxs:
		return fmt.Errorf("batch pool_size %d: must be at least max_txs %d", c.PoolSize, c.MaxTxs)
	}
	return nil
}

// SubmitFunc hands a sealed, encoded batch to ordering. It may block for
// back-pressure and fails only when ordering refuses the batch.
type SubmitFunc func(ctx context.Context, sb *types.SealedBatch) error

var (
	batchesSealed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "coco", Subsystem: "batch", Name: "sealed_total", Help: "Batches sealed and submitted to ordering.",
	})
	batchTxs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "coco", Subsystem: "batch", Name: "txs", Help: "Transactions per batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 13),
	})
	poolRejected = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "coco", Subsystem: "batch", Name: "pool_rejected_total", Help: "Transactions refused because the mempool was full.",
	})
)

func init() { prometheus.MustRegister(batchesSealed, batchTxs, poolRejected) }

// Batcher queues transactions and turns them into sealed batches.
type Batcher struct {
	cfg    Config
	origin uint64
	key    ed25519.PrivateKey
	keys   *Keyring
	submit SubmitFunc
	log    *slog.Logger
	queue  chan types.Tx
	carry  *types.Tx // overflowed the previous batch; starts the next
	seq    uint64
	// Limits in force: the configuration's, or what governance set.
	maxTxs, maxBytes atomic.Int64
}

// New creates a batcher for the node with consensus id origin. Batch
// sequence numbers start from the wall clock in nanoseconds so that they
// keep increasing across restarts without a persisted counter: consensus
// deduplicates requests by (origin, seq).
func New(cfg Config, origin uint64, key ed25519.PrivateKey, keys *Keyring, submit SubmitFunc, log *slog.Logger) *Batcher {
	b := &Batcher{
		cfg:    cfg,
		origin: origin,
		key:    key,
		keys:   keys,
		submit: submit,
		log:    log,
		queue:  make(chan types.Tx, cfg.PoolSize),
		seq:    uint64(time.Now().UnixNano()),
	}
	b.SetLimits(0, 0)
	return b
}

// SetLimits changes the batch limits at run time (governance's network
// parameters); 0 keeps the configured value. A limit above the configured
// one is capped by it, since the node's consensus and pool were sized for
// that.
func (b *Batcher) SetLimits(maxTxs, maxBytes int) {
	if maxTxs <= 0 || maxTxs > b.cfg.MaxTxs {
		maxTxs = b.cfg.MaxTxs
	}
	if maxBytes <= 0 || maxBytes > b.cfg.MaxBytes {
		maxBytes = b.cfg.MaxBytes
	}
	b.maxTxs.Store(int64(maxTxs))
	b.maxBytes.Store(int64(maxBytes))
}

// Limits are the batch limits in force.
func (b *Batcher) Limits() (maxTxs, maxBytes int) {
	return int(b.maxTxs.Load()), int(b.maxBytes.Load())
}

// Submit queues a checked transaction. It never blocks.
func (b *Batcher) Submit(tx types.Tx) error {
	if size, limit := txSize(tx), int(b.maxBytes.Load()); size > limit {
		return fmt.Errorf("%w: %d bytes, batch limit %d", ErrTooLarge, size, limit)
	}
	select {
	case b.queue <- tx:
		return nil
	default:
		poolRejected.Inc()
		return ErrPoolFull
	}
}

// Pending is the number of queued transactions not yet batched.
func (b *Batcher) Pending() int { return len(b.queue) }

// Run cuts and submits batches until ctx ends.
func (b *Batcher) Run(ctx context.Context) error {
	for {
		var first types.Tx
		if b.carry != nil {
			first, b.carry = *b.carry, nil
		} else {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case first = <-b.queue:
			}
		}
		txs := b.collect(ctx, first)
		b.seq++
		sb, err := b.keys.Seal(&types.Batch{Origin: b.origin, Seq: b.seq, Txs: txs}, b.key)
		if err != nil {
			return fmt.Errorf("seal batch: %w", err)
		}
		if err := b.submit(ctx, sb); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Ordering refused the batch (pool timeout): its transactions are
			// lost to this node; clients see no receipt and resubmit.
			b.log.Error("batch not accepted by ordering", "seq", b.seq, "txs", len(txs), "err", err)
			continue
		}
		batchesSealed.Inc()
		batchTxs.Observe(float64(len(txs)))
	}
}

// collect gathers up to MaxTxs/MaxBytes, waiting at most Linger for more.
// A transaction that would overflow the batch is carried to the next one.
func (b *Batcher) collect(ctx context.Context, first types.Tx) []types.Tx {
	txs := []types.Tx{first}
	size := txSize(first)
	maxTxs, maxBytes := b.Limits()
	var timer <-chan time.Time
	for len(txs) < maxTxs {
		var tx types.Tx
		select {
		case tx = <-b.queue:
		default:
			if b.cfg.Linger == 0 {
				return txs
			}
			if timer == nil {
				timer = time.After(b.cfg.Linger)
			}
			select {
			case tx = <-b.queue:
			case <-timer:
				return txs
			case <-ctx.Done():
				return txs
			}
		}
		if size+txSize(tx) > maxBytes {
			b.carry = &tx
			return txs
		}
		txs = append(txs, tx)
		size += txSize(tx)
	}
	return txs
}

func txSize(tx types.Tx) int { return len(tx.Payload) + len(tx.Sender) + len(tx.Namespace) }
