package consensus

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cocoledger/coco/core/batch"
	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/types"
	smartbft "github.com/hyperledger-labs/SmartBFT/pkg/consensus"
	bft "github.com/hyperledger-labs/SmartBFT/pkg/types"
	"github.com/hyperledger-labs/SmartBFT/pkg/wal"
	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

var droppedMessages = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "coco", Subsystem: "consensus", Name: "dropped_messages_total",
	Help: "Bus messages rejected: malformed, misaddressed, from unknown nodes or badly signed.",
})

// spreadBatches counts this node's batches sent to every member because the
// leader had not ordered them in time: a leader that censors, or one so
// overloaded that complaints are near.
var spreadBatches = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "coco", Subsystem: "consensus", Name: "spread_batches_total",
	Help: "Own batches sent to every member after waiting ComplainTimeout/2 for the leader to order them.",
})

// syncedBlocks counts blocks learned by sync instead of by taking part in
// deciding them: a node down or cut off catching up, or, when it keeps
// growing on a running node, a follower that cannot keep up.
var syncedBlocks = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "coco", Subsystem: "consensus", Name: "synced_blocks_total",
	Help: "Blocks fetched from peers and committed by sync rather than decided with them.",
})

func init() { prometheus.MustRegister(droppedMessages, spreadBatches, syncedBlocks) }

// Sentinel errors of proposal verification.
var (
	ErrWrongHeight   = errors.New("proposal at wrong height")
	ErrWrongParent   = errors.New("proposal does not extend our head")
	ErrBadPayload    = errors.New("proposal payload does not match its header")
	ErrDuplicate     = errors.New("batch already ordered")
	ErrBadHistory    = errors.New("proposal history root mismatch")
	ErrStateDiverged = errors.New("proposal carries state roots that differ from ours")
	ErrBadSignature  = errors.New("bad consenter signature")
	ErrTimeSkew      = errors.New("proposal time is not after its parent's")
)

// Chain is what consensus needs of the node: the decided blocks it extends
// and the place it delivers new ones.
type Chain interface {
	// Head is the last committed block (the genesis block at first).
	Head() *types.Block
	// HistoryAfter returns the history tree size and root after appending
	// leaves to the committed tree, without changing it.
	HistoryAfter(leaves []types.Hash) (uint64, types.Hash, error)
	// StateRoots are the applications' roots after the head block.
	StateRoots() []types.Root
	// Commit makes a decided block durable and executes it. batches are
	// the block's batches opened, leaves its transactions' hashes.
	Commit(b *types.Block, batches []*types.Batch, leaves []types.Hash) error
	// Block reads a committed block, to serve peers that catch up.
	Block(n uint64) (*types.Block, error)
}

// Config tunes SmartBFT. Durations follow DESIGN.md's measurements: tighter
// than SmartBFT's defaults so a stalled leader is replaced in seconds (by
// the heartbeat timeout). The complaint timeout is looser (decision 0010):
// it must outlast the queueing of an overloaded network, or overload is
// taken for censorship.
type Config struct {
	Network         string `mapstructure:"network"`
	BatchesPerBlock uint64 `mapstructure:"batches_per_block"`
	BlockMaxBytes   uint64 `mapstructure:"block_max_bytes"`
	// BlockInterval is the least time between two blocks (a full block
	// goes at once): every block costs each node a fixed amount of work
	// (consensus rounds, signatures, state commit), so a busy network is
	// cheaper in fewer, larger blocks.
	BlockInterval     time.Duration `mapstructure:"block_interval"`
	RequestPoolSize   uint64        `mapstructure:"request_pool_size"`
	RequestMaxBytes   uint64        `mapstructure:"request_max_bytes"`
	HeartbeatTimeout  time.Duration `mapstructure:"heartbeat_timeout"`
	ComplainTimeout   time.Duration `mapstructure:"complain_timeout"`
	ViewChangeTimeout time.Duration `mapstructure:"view_change_timeout"`
}

// DefaultConfig returns the tuned defaults.
func DefaultConfig() Config {
	return Config{
		Network:           "dev",
		BatchesPerBlock:   64,
		BlockMaxBytes:     6 << 20,
		BlockInterval:     100 * time.Millisecond,
		RequestPoolSize:   4096,
		RequestMaxBytes:   3 << 20,
		HeartbeatTimeout:  time.Second,
		ComplainTimeout:   10 * time.Second,
		ViewChangeTimeout: 4 * time.Second,
	}
}

// Validate checks the configuration once at start-up.
func (c Config) Validate() error {
	switch {
	case c.Network == "":
		return errors.New("consensus network name is empty")
	case c.BatchesPerBlock == 0:
		return errors.New("consensus batches_per_block must be positive")
	case c.RequestPoolSize <= c.BatchesPerBlock:
		// DESIGN.md: a pool no larger than a block makes every block wait the full interval.
		return fmt.Errorf("consensus request_pool_size %d must exceed batches_per_block %d", c.RequestPoolSize, c.BatchesPerBlock)
	case c.RequestMaxBytes > c.BlockMaxBytes:
		return fmt.Errorf("consensus request_max_bytes %d exceeds block_max_bytes %d", c.RequestMaxBytes, c.BlockMaxBytes)
	case c.BlockInterval <= 0:
		return errors.New("consensus block_interval must be positive")
	}
	return nil
}

// Peer is a consensus node: its id and public key.
type Peer struct {
	ID  uint64
	Key ed25519.PublicKey
}

// Options are what Start needs besides Config.
type Options struct {
	Self  uint64
	Key   ed25519.PrivateKey
	Peers []Peer // the consensus set, including self
	Keys  *batch.Keyring
	Chain Chain
	// Transport reaches the other nodes; nil for a node without peers.
	Transport Transport
	DataDir   string // the WAL lives in DataDir/wal
	// Sources are nodes to catch up from while this node is not in the
	// set its head knows (a joining node: the set may have changed
	// entirely since); blocks from them are verified as any others.
	Sources []uint64
	Log     *slog.Logger
	Clock   func() time.Time
}

// Consensus runs one SmartBFT replica.
type Consensus struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	set  atomic.Pointer[members]
	// pendingReconfig: the set changed in blocks SmartBFT did not deliver
	// (learned by sync); its next Sync answer says so.
	pendingReconfig atomic.Bool
	retired         atomic.Bool
	// headVersion is the verification sequence the head block was
	// proposed under (the set's version before the block): the head's
	// decision must carry it, or SmartBFT's view change finds it unequal
	// to the one other nodes delivered. Zero: not known (the head was
	// loaded at start and did not change the set), the current version
	// is used.
	headVersion   atomic.Uint64
	synced        atomic.Uint64 // blocks committed by sync (syncedBlocks, per instance)
	bftMu         sync.Mutex
	bft           *smartbft.Consensus // nil while not a member
	wal           *wal.WriteAheadLogFile
	walEntries    [][]byte
	stopListening func()

	stopTickers func()
	schedTicks  <-chan time.Time
	vcTicks     <-chan time.Time
	quit        chan struct{}
	wg          sync.WaitGroup

	commitMu    sync.Mutex // one block committed at a time, by Deliver or Sync
	mu          sync.Mutex
	opened      map[string]*openedProposal // proposal digest → verified contents
	seen        map[string]uint64          // batch request id → block that ordered it
	unordered   map[string]*ownBatch       // own batches not yet ordered, by request id
	verified    map[string]*types.Batch    // batches VerifyRequest opened, by verifiedKey
	requests    chan forwarded             // batches forwarded by other nodes, to the pool
	drops       int                        // bus messages dropped since lastDropLog
	lastDropLog time.Time

	snapMu sync.Mutex                 // taken before commitMu, never after
	snaps  map[uint64]*servedSnapshot // state snapshots served to peers, by id
}

type openedProposal struct {
	header  *types.Header
	sealed  []types.SealedBatch
	batches []*types.Batch
	leaves  []types.Hash
}

// seenWindow is how many blocks of batch ids are remembered for
// deduplication; SmartBFT itself remembers only its last 1000 requests.
const seenWindow = 4096

// Start opens the WAL and starts the replica.
func Start(cfg Config, opts Options) (*Consensus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	c := &Consensus{
		cfg:       cfg,
		opts:      opts,
		log:       opts.Log.With("component", "consensus"),
		opened:    map[string]*openedProposal{},
		seen:      map[string]uint64{},
		unordered: map[string]*ownBatch{},
		verified:  map[string]*types.Batch{},
		requests:  make(chan forwarded, 1024),
	}
	var version uint64
	if ms, ok := opts.Chain.(Membership); ok {
		version = ms.MembershipVersion()
	}
	c.set.Store(newMembers(opts.Peers, version).withRetired(retiredOf(opts.Chain)))
	w, walEntries, err := wal.InitializeAndReadAll(bftLogger{c.log}, filepath.Join(opts.DataDir, "wal"), wal.DefaultOptions())
	if err != nil {
		return nil, fmt.Errorf("consensus wal: %w", err)
	}
	c.wal, c.walEntries = w, walEntries

	head := opts.Chain.Head()
	if err := c.rememberOrdered(head.Header.Number); err != nil {
		return nil, err
	}
	if err := c.restoreHead(head.Header.Number); err != nil {
		return nil, err
	}
	schedTicker := time.NewTicker(100 * time.Millisecond)
	vcTicker := time.NewTicker(100 * time.Millisecond)
	c.stopTickers = func() { schedTicker.Stop(); vcTicker.Stop() }
	c.schedTicks, c.vcTicks = schedTicker.C, vcTicker.C
	if opts.Transport != nil {
		stop, err := opts.Transport.Listen(opts.Self, c.onMessage, c.serveSync)
		if err != nil {
			return nil, err
		}
		c.stopListening = stop
	}
	if c.members().has(opts.Self) {
		if err := c.startReplica(); err != nil {
			return nil, err
		}
	} else {
		c.log.Info("not in the consensus set yet: following the chain until governance trusts this node", "self", opts.Self, "nodes", c.members().ids)
	}
	if opts.Transport != nil && (len(c.members().ids) > 1 || !c.members().has(opts.Self)) {
		c.quit = make(chan struct{})
		c.wg.Go(func() { c.handleRequests(c.quit) })
		c.wg.Go(func() { c.catchUpWhenIdle(c.quit) })
		c.wg.Go(func() { c.resendUnordered(c.quit) })
		c.wg.Go(func() { c.expireSnapshots(c.quit) })
	}
	return c, nil
}

// bftConfig is SmartBFT's configuration, tuned as DESIGN.md measured.
func (c *Consensus) bftConfig() bft.Configuration {
	cfg := c.cfg
	bcfg := bft.DefaultConfig
	bcfg.SelfID = c.opts.Self
	bcfg.RequestBatchMaxCount = cfg.BatchesPerBlock
	bcfg.RequestBatchMaxBytes = cfg.BlockMaxBytes
	bcfg.RequestBatchMaxInterval = cfg.BlockInterval
	bcfg.RequestPoolSize = cfg.RequestPoolSize
	bcfg.RequestMaxBytes = cfg.RequestMaxBytes
	bcfg.LeaderRotation = false
	bcfg.DecisionsPerLeader = 0
	bcfg.LeaderHeartbeatTimeout = cfg.HeartbeatTimeout
	bcfg.RequestComplainTimeout = cfg.ComplainTimeout
	bcfg.RequestForwardTimeout = cfg.ComplainTimeout / 2
	bcfg.ViewChangeTimeout = cfg.ViewChangeTimeout
	bcfg.ViewChangeResendInterval = cfg.ViewChangeTimeout / 4
	bcfg.CollectTimeout = cfg.HeartbeatTimeout
	return bcfg
}

// startReplica starts SmartBFT from the head block: at start for a member,
// or when governance has just trusted this node.
func (c *Consensus) startReplica() error {
	head := c.opts.Chain.Head()
	md := &protos.ViewMetadata{}
	if len(head.Metadata) > 0 {
		if err := proto.Unmarshal(head.Metadata, md); err != nil {
			return fmt.Errorf("consensus: head block metadata: %w", err)
		}
	}
	// Two tickers: a ticker channel hands each tick to one receiver only, and
	// the scheduler and the view changer each need every tick.
	r := &smartbft.Consensus{
		Config:            c.bftConfig(),
		Application:       c,
		Assembler:         c,
		WAL:               c.wal,
		WALInitialContent: c.walEntries,
		Comm:              c,
		Signer:            c,
		Verifier:          c,
		RequestInspector:  c,
		Synchronizer:      c,
		Logger:            bftLogger{c.log},
		Metadata:          md,
		LastProposal:      c.proposalOf(head),
		LastSignatures:    signaturesOf(head),
		Scheduler:         c.schedTicks,
		ViewChangerTicker: c.vcTicks,
	}
	if err := r.Start(); err != nil {
		return fmt.Errorf("consensus: start SmartBFT: %w", err)
	}
	c.bftMu.Lock()
	c.bft = r
	c.bftMu.Unlock()
	c.log.Info("consensus started", "self", c.opts.Self, "nodes", c.members().ids, "view", md.ViewId, "seq", md.LatestSequence, "height", head.Header.Number)
	return nil
}

// rememberOrdered loads the batch ids of the last seenWindow blocks, so
// that after a restart this node neither proposes nor accepts a batch that
// was already ordered.
func (c *Consensus) rememberOrdered(head uint64) error {
	from := uint64(1)
	if head > seenWindow {
		from = head - seenWindow + 1
	}
	for n := from; n <= head; n++ {
		b, err := c.opts.Chain.Block(n)
		if errors.Is(err, ledger.ErrNotFound) {
			// Before the snapshot this node's ledger starts from.
			continue
		}
		if err != nil {
			return fmt.Errorf("consensus: read block %d: %w", n, err)
		}
		for i := range b.Batches {
			c.seen[requestID(b.Batches[i].Origin, b.Batches[i].Seq)] = n
		}
	}
	return nil
}

// Stop stops the replica and closes the WAL.
func (c *Consensus) Stop() {
	if c.quit != nil {
		close(c.quit)
		c.wg.Wait()
	}
	if c.stopListening != nil {
		c.stopListening()
	}
	if r := c.replica(); r != nil {
		r.Stop()
	}
	c.stopTickers()
	_ = c.wal.Close()
}

// Submit hands a sealed batch to ordering; it blocks while the request
// pool is full (back-pressure to the batcher).
//
// A follower also sends the batch straight to the leader: SmartBFT would
// forward it only after RequestForwardTimeout, which would add a second to
// every transaction sent to a follower. Keeping it in the local pool too
// means a leader that drops it is complained about and replaced.
func (c *Consensus) Submit(_ context.Context, sb *types.SealedBatch) error {
	req := types.EncodeSealedBatch(sb)
	r := c.replica()
	if r == nil || !c.members().has(c.opts.Self) {
		return ErrNotMember
	}
	if err := r.SubmitRequest(req); err != nil {
		return err
	}
	c.mu.Lock()
	now := time.Now()
	c.unordered[requestID(sb.Origin, sb.Seq)] = &ownBatch{req: req, created: now, sent: now}
	c.mu.Unlock()
	if leader := r.GetLeaderID(); leader != 0 && leader != c.opts.Self {
		c.send(leader, kindRequest, req)
	}
	return nil
}

// ownBatch is a batch this node submitted and has not seen ordered yet:
// when it was created, last sent to the leader and last sent to every
// member (resendUnordered).
type ownBatch struct {
	req                   []byte
	created, sent, spread time.Time
}

// unorderedTTL is how long a node keeps resending one of its batches:
// SmartBFT drops a request from its pool after three minutes.
const unorderedTTL = 3 * time.Minute

// resendUnordered sends this node's batches that are still not ordered
// again. The bus may lose a copy and SmartBFT forwards a request only once,
// so a batch goes to the leader again every ComplainTimeout/4. One still
// not ordered after ComplainTimeout/2 also goes to every other member
// (again every ComplainTimeout while it waits): the leader may be leaving
// it out, and this node's complaint alone, one where f+1 are needed, would
// not replace the leader. Members take it into their own pools
// (handleRequests), so their forward and complaint timers run on it too.
func (c *Consensus) resendUnordered(stop <-chan struct{}) {
	ticker := time.NewTicker(c.cfg.ComplainTimeout / 4)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		leader := c.Leader()
		if leader == 0 || leader == c.opts.Self {
			continue
		}
		var toLeader, toAll [][]byte
		now := time.Now()
		c.mu.Lock()
		for id, b := range c.unordered {
			age := now.Sub(b.created)
			switch {
			case age > unorderedTTL:
				delete(c.unordered, id)
			case age >= c.cfg.ComplainTimeout/2 && now.Sub(b.spread) >= c.cfg.ComplainTimeout:
				toAll = append(toAll, b.req)
				b.sent, b.spread = now, now
			case now.Sub(b.sent) >= c.cfg.ComplainTimeout/4:
				toLeader = append(toLeader, b.req)
				b.sent = now
			}
		}
		c.mu.Unlock()
		for _, req := range toLeader {
			c.send(leader, kindRequest, req)
		}
		if len(toAll) == 0 {
			continue
		}
		c.log.Warn("batches not ordered in time: sending them to every member, which complain about the leader if it keeps them out",
			"batches", len(toAll), "leader", leader, "waited", c.cfg.ComplainTimeout/2)
		spreadBatches.Add(float64(len(toAll)))
		for _, to := range c.members().ids {
			if to == c.opts.Self {
				continue
			}
			for _, req := range toAll {
				c.send(to, kindRequest, req)
			}
		}
	}
}

// Leader is the current leader's id, 0 when not running.
func (c *Consensus) Leader() uint64 {
	if r := c.replica(); r != nil {
		return r.GetLeaderID()
	}
	return 0
}

// View is SmartBFT's current view number, 0 when not running.
func (c *Consensus) View() uint64 {
	if r := c.replica(); r != nil {
		return r.GetViewNumber()
	}
	return 0
}

// Synced is how many blocks this instance committed by sync from peers.
func (c *Consensus) Synced() uint64 { return c.synced.Load() }

// proposalOf is a committed block as a SmartBFT decision. Blocks do not
// record the verification sequence they were decided under: the head's is
// headVersion (see headversion.go); for older blocks the current one is
// what SmartBFT compares with (a difference only skips checking the
// previous commit signatures, right after a membership change).
func (c *Consensus) proposalOf(b *types.Block) bft.Proposal {
	if b.Header.Number == 0 {
		return bft.Proposal{}
	}
	version := c.members().version
	if v := c.headVersion.Load(); v != 0 && b.Header.Number == c.opts.Chain.Head().Header.Number {
		version = v - 1
	}
	return bft.Proposal{Header: b.Header.Encode(), Payload: types.EncodeBatches(b.Batches), Metadata: b.Metadata, VerificationSequence: int64(version)}
}

func signaturesOf(b *types.Block) []bft.Signature {
	sigs := make([]bft.Signature, len(b.Signatures))
	for i, s := range b.Signatures {
		sigs[i] = bft.Signature{ID: s.Signer, Value: s.Value, Msg: s.Msg}
	}
	return sigs
}

func requestID(origin, seq uint64) string {
	return strconv.FormatUint(origin, 10) + ":" + strconv.FormatUint(seq, 10)
}
