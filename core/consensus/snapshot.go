package consensus

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/batch"
	"github.com/cocoledger/coco/core/types"
	"github.com/ethereum/go-ethereum/rlp"
)

// Snapshot protocol: a node far behind starts from a peer's state instead of
// executing every block. On the sync subject it asks a peer for a snapshot
// (kindSnapshot): the peer takes a consistent view of its state between two
// commits and answers with its head block H (whose quorum signatures the
// asker checks), the history tree's right edge after H, the namespaces and
// a snapshot id. The asker then fetches each namespace in chunks of
// plaintext key/value pairs (kindSnapshotChunk) and stores them under its
// own at-rest key. The bus is untrusted: every answer is sealed with the
// ledger secret and signed by the serving node.
const (
	kindSnapshot      uint8 = 5
	kindSnapshotChunk uint8 = 6

	// SnapshotChunkBytes is the plaintext size of a chunk the asker
	// requests by default; a server caps requests at snapshotMaxChunk.
	SnapshotChunkBytes = 2 << 20
	snapshotMinChunk   = 64 << 10
	snapshotMaxChunk   = 4 << 20
	// snapshotTimeout bounds one snapshot request: opening a snapshot
	// waits for the block being committed.
	snapshotTimeout = 10 * time.Second
	// A served snapshot pins old data in the peer's database: it is
	// released after snapshotIdle without a request, and a node serves at
	// most snapshotMaxServed at a time.
	snapshotIdle      = time.Minute
	snapshotMaxServed = 2
	// snapshotPayload names the only transaction of a sealed answer. A
	// namespace cannot contain '/', and origin 0 is no node, so a sealed
	// answer can never pass for a batch.
	snapshotPayload = "coco/snapshot"
)

// Snapshot errors callers branch on.
var (
	// ErrSnapshotUnavailable: the peer cannot serve a snapshot now (busy,
	// an application not at its head, or no support).
	ErrSnapshotUnavailable = errors.New("snapshot not available now")
	// ErrSnapshot: a peer's snapshot answer fails verification.
	ErrSnapshot = errors.New("invalid snapshot answer from peer")
)

// SnapshotSource is implemented by a Chain that serves state snapshots.
type SnapshotSource interface {
	// OpenSnapshot returns a consistent view of the state after the head
	// block. Consensus calls it between two commits: no block commits
	// until it returns. It fails with ErrSnapshotUnavailable when the
	// state is not at the head.
	OpenSnapshot() (Snapshot, error)
}

// Snapshot is a consistent, read-only view of a node's state after its
// head block.
type Snapshot interface {
	// Block is the head block the state belongs to.
	Block() *types.Block
	// Edge is the history tree's right edge after Block (ledger.Tree.Edge).
	Edge() []types.Hash
	// Namespaces are the state namespaces that hold keys.
	Namespaces() []string
	// Read calls fn with the plaintext pairs of namespace ns in key order
	// from start on, until fn returns false.
	Read(ns string, start []byte, fn func(key, value []byte) bool) error
	Close() error
}

// snapshotMeta is the plaintext answer to kindSnapshot.
type snapshotMeta struct {
	ID          uint64
	Unavailable string // why not, when not available
	Block       []byte // types.Block encoding of H
	Edge        []types.Hash
	Namespaces  []string
}

type chunkRequest struct {
	ID        uint64
	Namespace string
	Start     []byte
	Max       uint64
}

// snapshotChunk is the plaintext answer to kindSnapshotChunk; it repeats
// the request so an answer cannot be replayed for another.
type snapshotChunk struct {
	ID          uint64
	Namespace   string
	Start       []byte
	Unavailable string
	Keys        [][]byte
	Values      [][]byte
	Next        []byte // first key not in this chunk, when not Done
	Done        bool
}

// servedSnapshot is a snapshot this node serves to peers.
type servedSnapshot struct {
	snap     Snapshot
	height   uint64
	lastUsed time.Time
}

// sealAnswer seals a plaintext answer with the ledger secret and signs it
// in an envelope to the asker.
func sealAnswer(keys *batch.Keyring, key ed25519.PrivateKey, self, to uint64, kind uint8, v any) []byte {
	pt, err := rlp.EncodeToBytes(v)
	if err != nil {
		panic(err) // plain fields only
	}
	sb, err := keys.Seal(&types.Batch{Txs: []types.Tx{{Namespace: snapshotPayload, Payload: pt}}}, key)
	if err != nil {
		return nil // no randomness: no answer, the asker times out
	}
	return bridge.Seal(key, self, to, kind, types.EncodeSealedBatch(sb))
}

// openAnswer checks a sealed answer from peer and decodes it into v.
func openAnswer(data []byte, self, peer uint64, kind uint8, peerKey func(uint64) ed25519.PublicKey, keys *batch.Keyring, v any) error {
	env, err := bridge.Open(data, self, peerKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if env.From != peer || env.Kind != kind {
		return fmt.Errorf("%w: answer of kind %d from node %d, asked node %d for kind %d", ErrSnapshot, env.Kind, env.From, peer, kind)
	}
	sb, err := types.DecodeSealedBatch(env.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if sb.Origin != 0 {
		return fmt.Errorf("%w: sealed with origin %d", ErrSnapshot, sb.Origin)
	}
	b, err := keys.Open(sb)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if len(b.Txs) != 1 || b.Txs[0].Namespace != snapshotPayload {
		return fmt.Errorf("%w: not a snapshot answer", ErrSnapshot)
	}
	if err := rlp.DecodeBytes(b.Txs[0].Payload, v); err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	return nil
}

// serveSnapshot answers a snapshot request from peer from.
func (c *Consensus) serveSnapshot(from uint64) []byte {
	meta := snapshotMeta{}
	id, s, err := c.openSnapshot()
	if err != nil {
		c.log.Info("cannot serve a snapshot", "peer", from, "err", err)
		meta.Unavailable = err.Error()
	} else {
		meta.ID, meta.Block, meta.Edge, meta.Namespaces = id, s.Block().Encode(), s.Edge(), s.Namespaces()
		c.log.Info("serving a state snapshot", "peer", from, "height", s.Block().Header.Number, "snapshot", id)
	}
	return sealAnswer(c.opts.Keys, c.opts.Key, c.opts.Self, from, kindSnapshot, &meta)
}

// openSnapshot returns a served snapshot of the current head: a live one
// taken at the head already, or a new one.
func (c *Consensus) openSnapshot() (uint64, Snapshot, error) {
	src, ok := c.opts.Chain.(SnapshotSource)
	if !ok {
		return 0, nil, fmt.Errorf("%w: this node does not serve snapshots", ErrSnapshotUnavailable)
	}
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	c.expireSnapshotsLocked(time.Now())
	head := c.opts.Chain.Head().Header.Number
	for id, s := range c.snaps {
		if s.height == head {
			s.lastUsed = time.Now()
			return id, s.snap, nil
		}
	}
	if len(c.snaps) >= snapshotMaxServed {
		return 0, nil, fmt.Errorf("%w: already serving %d snapshots", ErrSnapshotUnavailable, len(c.snaps))
	}
	// Between two commits, so the state, the head and the tree agree.
	c.commitMu.Lock()
	snap, err := src.OpenSnapshot()
	c.commitMu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	id := rand.Uint64() | 1 // never 0
	if c.snaps == nil {
		c.snaps = map[uint64]*servedSnapshot{}
	}
	c.snaps[id] = &servedSnapshot{snap: snap, height: snap.Block().Header.Number, lastUsed: time.Now()}
	return id, snap, nil
}

// serveChunk answers a chunk request from peer from.
func (c *Consensus) serveChunk(from uint64, payload []byte) []byte {
	var req chunkRequest
	if err := rlp.DecodeBytes(payload, &req); err != nil {
		c.log.Warn("dropping malformed snapshot chunk request", "from", from, "err", err)
		return nil
	}
	chunk := snapshotChunk{ID: req.ID, Namespace: req.Namespace, Start: req.Start}
	c.snapMu.Lock()
	s := c.snaps[req.ID]
	if s == nil {
		chunk.Unavailable = "unknown or expired snapshot"
	} else {
		s.lastUsed = time.Now()
		limit := min(max(req.Max, snapshotMinChunk), snapshotMaxChunk)
		size, more := uint64(0), false
		err := s.snap.Read(req.Namespace, req.Start, func(k, v []byte) bool {
			n := uint64(len(k) + len(v))
			if len(chunk.Keys) > 0 && size+n > limit {
				chunk.Next, more = bytes.Clone(k), true
				return false
			}
			chunk.Keys = append(chunk.Keys, bytes.Clone(k))
			chunk.Values = append(chunk.Values, bytes.Clone(v))
			size += n
			return true
		})
		if err != nil {
			c.log.Error("reading a served snapshot", "namespace", req.Namespace, "err", err)
			chunk = snapshotChunk{ID: req.ID, Namespace: req.Namespace, Start: req.Start, Unavailable: "read failed"}
		} else {
			chunk.Done = !more
		}
	}
	c.snapMu.Unlock()
	return sealAnswer(c.opts.Keys, c.opts.Key, c.opts.Self, from, kindSnapshotChunk, &chunk)
}

func (c *Consensus) expireSnapshotsLocked(now time.Time) {
	for id, s := range c.snaps {
		if now.Sub(s.lastUsed) >= snapshotIdle {
			if err := s.snap.Close(); err != nil {
				c.log.Warn("releasing a served snapshot", "err", err)
			}
			delete(c.snaps, id)
			c.log.Info("released a served snapshot", "snapshot", id, "height", s.height)
		}
	}
}

// expireSnapshots releases idle served snapshots until stop closes, then
// all of them.
func (c *Consensus) expireSnapshots(stop <-chan struct{}) {
	ticker := time.NewTicker(snapshotIdle / 6)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			c.snapMu.Lock()
			c.expireSnapshotsLocked(time.Now().Add(snapshotIdle))
			c.snapMu.Unlock()
			return
		case now := <-ticker.C:
			c.snapMu.Lock()
			c.expireSnapshotsLocked(now)
			c.snapMu.Unlock()
		}
	}
}

// SnapshotClient fetches a state snapshot from peers before this node's
// consensus starts. Meanwhile it answers the peers' height requests (so
// nodes that start together learn each other's heights) and their other
// sync requests with nothing.
type SnapshotClient struct {
	opts  Options
	peers map[uint64]ed25519.PublicKey
	ids   []uint64
	stop  func()
}

// NewSnapshotClient starts a client over opts.Transport; opts.Chain's head
// is the height it reports to peers. Close it before Start.
func NewSnapshotClient(opts Options) (*SnapshotClient, error) {
	if opts.Transport == nil {
		return nil, ErrNoTransport
	}
	sc := &SnapshotClient{opts: opts, peers: map[uint64]ed25519.PublicKey{}}
	for _, p := range opts.Peers {
		sc.peers[p.ID] = p.Key
		sc.ids = append(sc.ids, p.ID)
	}
	slices.Sort(sc.ids)
	stop, err := opts.Transport.Listen(opts.Self, func([]byte) {}, sc.answer)
	if err != nil {
		return nil, err
	}
	sc.stop = stop
	return sc, nil
}

// Close stops answering peers.
func (sc *SnapshotClient) Close() {
	if sc.stop != nil {
		sc.stop()
		sc.stop = nil
	}
}

func (sc *SnapshotClient) peerKey(id uint64) ed25519.PublicKey { return sc.peers[id] }

func (sc *SnapshotClient) answer(data []byte) []byte {
	env, err := bridge.Open(data, sc.opts.Self, sc.peerKey)
	if err != nil {
		return nil
	}
	switch env.Kind {
	case kindHeight:
		h, _ := rlp.EncodeToBytes(sc.opts.Chain.Head().Header.Number)
		return h
	case kindBlocks:
		none, _ := rlp.EncodeToBytes([][]byte{})
		return none
	case kindSnapshot:
		return sealAnswer(sc.opts.Keys, sc.opts.Key, sc.opts.Self, env.From, kindSnapshot, &snapshotMeta{Unavailable: "node is starting"})
	}
	return nil
}

// PeerHeight is a peer's answer to a height request.
type PeerHeight struct{ ID, Height uint64 }

// Heights asks every other node for its height; peers that do not answer
// are left out.
func (sc *SnapshotClient) Heights() []PeerHeight {
	return askHeights(sc.opts.Transport, sc.opts.Key, sc.opts.Self, sc.ids)
}

// SnapshotMeta describes a snapshot a peer serves. Block carries a quorum
// of valid signatures; Edge is not checked here (ledger.EdgeRoot).
type SnapshotMeta struct {
	Peer, ID   uint64
	Block      *types.Block
	Edge       []types.Hash
	Namespaces []string
}

// Meta asks peer for a snapshot of its state and checks the quorum
// signatures of the block it belongs to.
func (sc *SnapshotClient) Meta(peer uint64) (*SnapshotMeta, error) {
	data, err := sc.opts.Transport.Request(peer, bridge.Seal(sc.opts.Key, sc.opts.Self, peer, kindSnapshot, nil), snapshotTimeout)
	if err != nil {
		return nil, fmt.Errorf("snapshot from node %d: %w", peer, err)
	}
	var m snapshotMeta
	if err := openAnswer(data, sc.opts.Self, peer, kindSnapshot, sc.peerKey, sc.opts.Keys, &m); err != nil {
		return nil, err
	}
	if m.Unavailable != "" {
		return nil, fmt.Errorf("%w from node %d: %s", ErrSnapshotUnavailable, peer, m.Unavailable)
	}
	b, err := types.DecodeBlock(m.Block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if b.Header.Number == 0 {
		return nil, fmt.Errorf("%w: snapshot at genesis", ErrSnapshot)
	}
	if err := checkQuorum(sc.peers, len(sc.ids), b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	return &SnapshotMeta{Peer: peer, ID: m.ID, Block: b, Edge: m.Edge, Namespaces: m.Namespaces}, nil
}

// SnapshotChunk is a run of a namespace's plaintext pairs in key order.
type SnapshotChunk struct {
	Keys, Values [][]byte
	// Next is where the following chunk starts, unless Done.
	Next []byte
	Done bool
}

// Chunk fetches the pairs of namespace ns from key start on, about
// maxBytes of them (at least one pair).
func (sc *SnapshotClient) Chunk(m *SnapshotMeta, ns string, start []byte, maxBytes int) (*SnapshotChunk, error) {
	req, _ := rlp.EncodeToBytes(&chunkRequest{ID: m.ID, Namespace: ns, Start: start, Max: uint64(max(maxBytes, 0))})
	data, err := sc.opts.Transport.Request(m.Peer, bridge.Seal(sc.opts.Key, sc.opts.Self, m.Peer, kindSnapshotChunk, req), snapshotTimeout)
	if err != nil {
		return nil, fmt.Errorf("snapshot chunk of %s from node %d: %w", ns, m.Peer, err)
	}
	var c snapshotChunk
	if err := openAnswer(data, sc.opts.Self, m.Peer, kindSnapshotChunk, sc.peerKey, sc.opts.Keys, &c); err != nil {
		return nil, err
	}
	if c.ID != m.ID || c.Namespace != ns || !bytes.Equal(c.Start, start) {
		return nil, fmt.Errorf("%w: chunk answers another request", ErrSnapshot)
	}
	if c.Unavailable != "" {
		return nil, fmt.Errorf("%w from node %d: %s", ErrSnapshotUnavailable, m.Peer, c.Unavailable)
	}
	if len(c.Keys) != len(c.Values) || (len(c.Keys) == 0 && !c.Done) {
		return nil, fmt.Errorf("%w: %d keys, %d values, done %v", ErrSnapshot, len(c.Keys), len(c.Values), c.Done)
	}
	// Keys strictly ascending from start, and the next chunk after them,
	// so a peer cannot make the import loop or write a key twice.
	prev := start
	for i, k := range c.Keys {
		if (i == 0 && bytes.Compare(k, prev) < 0) || (i > 0 && bytes.Compare(k, prev) <= 0) {
			return nil, fmt.Errorf("%w: keys out of order", ErrSnapshot)
		}
		prev = k
	}
	if !c.Done && (len(c.Keys) == 0 || bytes.Compare(c.Next, prev) <= 0) {
		return nil, fmt.Errorf("%w: next chunk does not follow this one", ErrSnapshot)
	}
	return &SnapshotChunk{Keys: c.Keys, Values: c.Values, Next: c.Next, Done: c.Done}, nil
}

// DiscardWAL deletes the consensus write-ahead log in dataDir. A node that
// replaced its state by a snapshot at block H calls it: every entry is
// about a sequence at or below H, decided already, and replaying it would
// put SmartBFT back at that old sequence.
func DiscardWAL(dataDir string, log *slog.Logger) error {
	dir := filepath.Join(dataDir, "wal")
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("consensus: discard wal: %w", err)
	}
	log.Info("discarded the consensus write-ahead log", "dir", dir)
	return nil
}
