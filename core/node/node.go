package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cocoledger/coco/core/batch"
	"github.com/cocoledger/coco/core/consensus"
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/state"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// Config is the node's part of the configuration.
type Config struct {
	DataDir string `mapstructure:"data_dir"`
	// Genesis is the genesis document's path (`coco node start`); a dev
	// node keeps its own in DataDir.
	Genesis   string           `mapstructure:"genesis"`
	Batch     batch.Config     `mapstructure:"batch"`
	Consensus consensus.Config `mapstructure:"consensus"`
	// SnapshotAfter is how many blocks behind its highest peer a starting
	// node must be to catch up from that peer's state snapshot instead of
	// block by block; 0 disables it (see CatchUpFromSnapshot).
	SnapshotAfter uint64 `mapstructure:"snapshot_after"`
}

// DefaultConfig returns a single dev node's defaults.
func DefaultConfig() Config {
	return Config{DataDir: ".coco/dev", Batch: batch.DefaultConfig(), Consensus: consensus.DefaultConfig(), SnapshotAfter: 10000}
}

// Validate checks the configuration once at start-up.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir is empty")
	}
	if err := c.Batch.Validate(); err != nil {
		return err
	}
	return c.Consensus.Validate()
}

// ErrReplayDiverged means executing the ledger again did not reach the
// state roots the signed headers record.
var ErrReplayDiverged = errors.New("replay diverged from the ledger")

// ErrNotStarted is returned by Submit before Start.
var ErrNotStarted = errors.New("node not started")

var (
	blocksCommitted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "coco", Name: "blocks_committed_total", Help: "Blocks committed to the ledger and executed.",
	})
	txsCommitted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "coco", Name: "txs_committed_total", Help: "Transactions in committed blocks.",
	})
	ledgerHeight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "coco", Name: "ledger_height", Help: "Number of the last committed block.",
	})
	commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "coco", Name: "block_commit_seconds", Help: "Time to append (fsync) and execute one block.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
)

func init() { prometheus.MustRegister(blocksCommitted, txsCommitted, ledgerHeight, commitSeconds) }

// Node is one running Coco node.
type Node struct {
	cfg     Config
	enc     enclave.Enclave
	id      *Identity
	self    uint64 // consensus id
	genesis *Genesis
	log     *slog.Logger
	db      *state.DB
	ledger  *ledger.Ledger
	keys    *batch.Keyring
	// secrets are kept to hand to nodes governance trusts later.
	secretsMu sync.Mutex
	secrets   secrets
	issued    atomic.Pointer[string] // rotationKey this node has answered
	// batchLimits are the governance batch limits last applied.
	batchLimits atomic.Pointer[[2]int]
	// turnVersion is the membership version the flush turn was set for.
	turnVersion atomic.Pointer[uint64]
	started     atomic.Bool // Start has set up the batcher and consensus
	stopJoins   func()

	gov     *gov.Gov
	apps    []App
	batcher *batch.Batcher
	// WrapTransport, if set before Start, decorates the bus transport
	// (fault-injection builds only).
	WrapTransport func(t consensus.Transport, key ed25519.PrivateKey, self uint64, peers []uint64) (consensus.Transport, error)
	cons          *consensus.Consensus
	cancel        context.CancelFunc
	wg            sync.WaitGroup

	mu    sync.RWMutex
	head  *types.Block
	roots []types.Root

	imported *importMarker // a snapshot imported by this process, until Start verified it
}

// Open unseals the node's identity, checks it against the genesis
// document, opens the database and ledger, and writes block 0 on first
// start. Register the applications, then Start.
func Open(cfg Config, enc enclave.Enclave, g *Genesis, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := g.Validate(enc); err != nil {
		// Every node's evidence is checked before a single message from it
		// is accepted.
		return nil, err
	}
	id, err := LoadIdentity(cfg.DataDir, enc)
	if err != nil {
		return nil, err
	}
	self, genesisSelf, err := selfID(cfg.DataDir, g, id)
	if err != nil {
		return nil, err
	}
	secrets, err := loadSecrets(cfg.DataDir, enc, id, genesisSelf, g.Network)
	if err != nil {
		return nil, err
	}
	db, err := state.Open(filepath.Join(cfg.DataDir, "db"), state.Options{
		Key:    enclave.DeriveKey(id.NodeSecret, "state"),
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	n, err := open(cfg, enc, g, id, self, secrets, db, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	return n, nil
}

func open(cfg Config, enc enclave.Enclave, g *Genesis, id *Identity, self uint64, secrets secrets, db *state.DB, log *slog.Logger) (*Node, error) {
	l, err := ledger.Open(db.Pebble())
	if err != nil {
		return nil, err
	}
	gens := slices.Sorted(maps.Keys(secrets))
	keys, err := batch.NewKeyring(gens[0], secrets[gens[0]])
	if err != nil {
		return nil, err
	}
	for _, gen := range gens[1:] {
		if err := keys.Add(gen, secrets[gen]); err != nil {
			return nil, err
		}
	}
	n := &Node{cfg: cfg, enc: enc, id: id, self: self, genesis: g, log: log, db: db, ledger: l, keys: keys, secrets: secrets}
	if n.gov, err = gov.Open(db.Namespace(types.GovNamespace), g.Network, govGenesis(g), nodeVerifier(enc), log); err != nil {
		return nil, err
	}
	n.apps = []App{govApp{n.gov}}
	genesis := g.Block(ledger.EmptyRoot)
	if l.Head() == nil {
		if err := l.Append(genesis, nil); err != nil {
			return nil, fmt.Errorf("write genesis block: %w", err)
		}
		log.Info("wrote genesis block", "network", g.Network, "hash", genesis.Header.Hash())
	} else if h, err := l.Header(0); err != nil || h.Hash() != genesis.Header.Hash() {
		return nil, fmt.Errorf("%w: the ledger in %s belongs to another network than genesis %q", ErrGenesis, cfg.DataDir, g.Network)
	}
	head, err := l.Block(l.Height())
	if err != nil {
		return nil, fmt.Errorf("read head block: %w", err)
	}
	n.head = head
	log.Info("ledger opened", "height", head.Header.Number, "history_size", head.Header.HistorySize, "head", head.Header.Hash())
	return n, nil
}

// State is the node's database; applications keep their state in their own
// namespace of it.
func (n *Node) State() *state.DB { return n.db }

// Ledger is the node's ledger.
func (n *Node) Ledger() *ledger.Ledger { return n.ledger }

// Identity is the node's unsealed identity.
func (n *Node) Identity() *Identity { return n.id }

// Genesis is the network's genesis document.
func (n *Node) Genesis() *Genesis { return n.genesis }

// Gov is the node's governance state.
func (n *Node) Gov() *gov.Gov { return n.gov }

// Register adds an application. Call before Start.
func (n *Node) Register(app App) { n.apps = append(n.apps, app) }

// Start replays committed blocks the applications have not applied, then
// starts consensus and the batcher. bus may be nil for a node without peers.
func (n *Node) Start(bus *nats.Conn) error {
	if err := n.finishSnapshotImport(); err != nil {
		return err
	}
	if err := n.replay(); err != nil {
		return err
	}
	n.roots = n.appRoots()
	if err := n.writeRecoveryBlock(); err != nil {
		return err
	}
	cfg := n.cfg.Consensus
	cfg.Network = n.genesis.Network
	var transport consensus.Transport
	if bus != nil {
		transport = consensus.NewBusTransport(bus, cfg.Network)
		if n.WrapTransport != nil {
			var err error
			if transport, err = n.WrapTransport(transport, n.id.Key, n.self, n.genesis.Peers()); err != nil {
				return err
			}
		}
	}
	cons, err := consensus.Start(cfg, consensus.Options{
		Self:      n.self,
		Key:       n.id.Key,
		Peers:     n.Peers(),
		Keys:      n.keys,
		Chain:     n,
		Transport: transport,
		DataDir:   n.cfg.DataDir,
		Log:       n.log,
		Sources:   catchUpSources(n.cfg.DataDir),
	})
	if err != nil {
		return err
	}
	n.cons = cons
	if bus != nil {
		if n.stopJoins, err = n.serveJoins(bus); err != nil {
			return err
		}
	}
	n.batcher = batch.New(n.cfg.Batch, n.self, n.id.Key, n.keys, cons.Submit, n.log)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Go(func() {
		if err := n.batcher.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error("batcher stopped", "err", err)
		}
	})
	// From here on, commits (on consensus' goroutine) may use the batcher
	// and consensus.
	n.started.Store(true)
	n.applyBatchLimits()
	n.applyFlushTurn()
	return nil
}

// replay executes committed blocks that some application has not applied,
// e.g. after a crash between the ledger's fsync and the state write.
func (n *Node) replay() error {
	height := n.ledger.Height()
	for _, app := range n.apps {
		from := app.Height() + 1
		if from > height {
			continue
		}
		n.log.Info("replaying ledger into application", "namespace", app.Namespace(), "from", from, "to", height)
		for b, err := range n.ledger.Blocks(from, height) {
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			batches := make([]*types.Batch, 0, len(b.Batches))
			for i := range b.Batches {
				opened, err := n.keys.Open(&b.Batches[i])
				if err != nil {
					return fmt.Errorf("replay block %d: %w", b.Header.Number, err)
				}
				batches = append(batches, opened)
			}
			root, err := app.Execute(n.execBlock(b, batches, app.Namespace()))
			if err != nil {
				return fmt.Errorf("replay block %d into %s: %w", b.Header.Number, app.Namespace(), err)
			}
			// The next header records the root every replica reached.
			if b.Header.Number < height {
				next, err := n.ledger.Header(b.Header.Number + 1)
				if err != nil {
					return fmt.Errorf("replay: %w", err)
				}
				if want, ok := rootOf(next.PrevStateRoots, app.Namespace()); ok && want != root {
					return fmt.Errorf("%w: replaying block %d into %s gives root %s, block %d records %s", ErrReplayDiverged, b.Header.Number, app.Namespace(), root, b.Header.Number+1, want)
				}
			}
		}
	}
	return nil
}

// execBlock selects a namespace's transactions. In the bft trust model the
// senders that another node's ingress verified are dropped, so the
// application verifies those signatures itself.
func (n *Node) execBlock(b *types.Block, batches []*types.Batch, ns string) *ExecBlock {
	eb := &ExecBlock{Number: b.Header.Number, TimeMs: b.Header.TimeMs, Hash: b.Header.Hash(), Recovery: b.Header.Recovery}
	if ns != types.GovNamespace {
		eb.Params = n.gov.ParamsAt(b.Header.Number)
	}
	reverify := n.gov.Params().TrustModel == TrustBFT
	for _, bt := range batches {
		for _, tx := range bt.Txs {
			if tx.Namespace != ns {
				continue
			}
			if reverify && bt.Origin != n.self {
				tx.Sender = nil
			}
			eb.Txs = append(eb.Txs, tx)
		}
	}
	return eb
}

func (n *Node) appRoots() []types.Root {
	roots := make([]types.Root, len(n.apps))
	for i, app := range n.apps {
		roots[i] = types.Root{Namespace: app.Namespace(), Root: app.Root()}
	}
	return roots
}

// ErrNetworkClosed refuses users' transactions until the members open the
// network (a recovered network starts closed).
var ErrNetworkClosed = errors.New("network not open to users: the members have not voted it open (open_network)")

// Admit reports whether users' transactions are accepted now.
func (n *Node) Admit() error {
	if n.started.Load() && !n.cons.IsMember() {
		return fmt.Errorf("%w: it is catching up or was retired; send transactions to another node", consensus.ErrNotMember)
	}
	if !n.gov.Params().Open {
		return ErrNetworkClosed
	}
	return nil
}

// Submit queues a transaction that an adapter's ingress checked.
func (n *Node) Submit(tx types.Tx) error {
	if !n.started.Load() {
		return ErrNotStarted
	}
	if tx.Namespace != types.GovNamespace {
		if err := n.Admit(); err != nil {
			return err
		}
	} else if !n.cons.IsMember() {
		return fmt.Errorf("%w: send governance requests to another node", consensus.ErrNotMember)
	}
	return n.batcher.Submit(tx)
}

// Head implements consensus.Chain.
func (n *Node) Head() *types.Block {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.head
}

// HistoryAfter implements consensus.Chain.
func (n *Node) HistoryAfter(leaves []types.Hash) (uint64, types.Hash, error) {
	s := n.ledger.Tree().Stage(leaves...)
	return s.Size(), s.Root(), nil
}

// StateRoots implements consensus.Chain.
func (n *Node) StateRoots() []types.Root {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.roots
}

// Commit implements consensus.Chain: the block is fsync'd to the ledger
// before any application executes it, so an executed block is never lost.
func (n *Node) Commit(b *types.Block, batches []*types.Batch, leaves []types.Hash) error {
	start := time.Now()
	if err := n.ledger.Append(b, leaves); err != nil {
		return err
	}
	appended := time.Now()
	roots := make([]types.Root, len(n.apps))
	for i, app := range n.apps {
		root, err := app.Execute(n.execBlock(b, batches, app.Namespace()))
		if err != nil {
			return fmt.Errorf("execute block %d in %s: %w", b.Header.Number, app.Namespace(), err)
		}
		roots[i] = types.Root{Namespace: app.Namespace(), Root: root}
	}
	n.mu.Lock()
	n.head, n.roots = b, roots
	n.mu.Unlock()
	n.afterCommit()
	blocksCommitted.Inc()
	txsCommitted.Add(float64(len(leaves)))
	ledgerHeight.Set(float64(b.Header.Number))
	took := time.Since(start)
	commitSeconds.Observe(took.Seconds())
	n.log.Debug("block committed", "number", b.Header.Number, "txs", len(leaves), "append", appended.Sub(start), "total", took)
	return nil
}

// Status is what the node reports about itself.
type Status struct {
	Network string `json:"network"`
	NodeID  string `json:"node_id"`
	ID      uint64 `json:"id"`
	Nodes   int    `json:"nodes"` // the consensus set's size
	Member  bool   `json:"consensus_member"`
	// SecretGeneration is the ledger secret generation new batches are
	// sealed with.
	SecretGeneration uint64 `json:"ledger_secret_generation"`
	TrustModel       string `json:"trust_model"`
	Height           uint64 `json:"height"`
	HeadHash         string `json:"head_hash"`
	View             uint64 `json:"view"`
	Leader           uint64 `json:"leader"`
	Enclave          string `json:"enclave"`
	Hardware         bool   `json:"hardware_protection"`
	PendingTxs       int    `json:"pending_txs"`
	HistorySize      uint64 `json:"history_size"`
	// SyncedBlocks counts the blocks this node fetched from peers since
	// it started instead of deciding them with the others; one that keeps
	// growing under load means the node cannot keep up.
	SyncedBlocks uint64 `json:"synced_blocks"`
}

// Status reports height, leader and enclave mode.
func (n *Node) Status() Status {
	head := n.Head()
	s := Status{
		Network:     n.genesis.Network,
		ID:          n.self,
		Nodes:       len(n.Peers()),
		TrustModel:  n.gov.Params().TrustModel,
		View:        viewOf(head),
		NodeID:      n.id.NodeID(),
		Height:      head.Header.Number,
		HeadHash:    head.Header.Hash().String(),
		Enclave:     n.enc.Platform(),
		Hardware:    n.enc.Hardware(),
		HistorySize: head.Header.HistorySize,

		SecretGeneration: n.SecretGeneration(),
	}
	if n.started.Load() {
		s.Leader = n.cons.Leader()
		s.View = n.cons.View()
		s.Member = n.cons.IsMember()
		s.PendingTxs = n.batcher.Pending()
		s.SyncedBlocks = n.cons.Synced()
	}
	return s
}

func viewOf(b *types.Block) uint64 {
	md := &protos.ViewMetadata{}
	if proto.Unmarshal(b.Metadata, md) != nil {
		return 0
	}
	return md.ViewId
}

// Stop stops the batcher and consensus, closes the applications that hold
// state in memory (io.Closer: they flush it) and then the database.
// Committed blocks are already durable; queued, unordered transactions are
// dropped.
func (n *Node) Stop() {
	if n.stopJoins != nil {
		n.stopJoins()
	}
	if n.cancel != nil {
		n.cancel()
		n.wg.Wait()
	}
	if n.cons != nil {
		n.cons.Stop()
	}
	for _, app := range n.apps {
		if c, ok := app.(io.Closer); ok {
			if err := c.Close(); err != nil {
				n.log.Error("close application", "namespace", app.Namespace(), "err", err)
			}
		}
	}
	if err := n.db.Close(); err != nil {
		n.log.Error("close database", "err", err)
	}
}

// Block implements consensus.Chain.
func (n *Node) Block(number uint64) (*types.Block, error) { return n.ledger.Block(number) }
