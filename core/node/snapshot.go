package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cocoledger/coco/core/consensus"
	"github.com/cocoledger/coco/core/durable"
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/state"
	"github.com/cocoledger/coco/core/types"
	"github.com/nats-io/nats.go"
)

// Catch-up from a peer's state snapshot. A node far behind its peers
// (Config.SnapshotAfter blocks or more) replaces its state by the state of
// its highest peer at that peer's head H instead of executing every missing
// block: CatchUpFromSnapshot runs after Open and before the applications
// are built (they read their state when built), and Start verifies what was
// imported. The import is crash-safe: a marker file is written before the
// first byte of state changes and removed only after Start verified the
// result; a node that finds the marker imports again.

// ErrSnapshotImport marks a snapshot import that cannot complete; the
// message says what to do.
var ErrSnapshotImport = errors.New("snapshot import")

// Flusher is implemented by applications that keep recent state in memory
// only. Flush writes it to the database, so that the database alone holds
// the state after Height(); a node calls it before it takes a snapshot to
// serve.
type Flusher interface {
	Flush() error
}

// StateVerifier is implemented by applications that can check their whole
// state, as imported from a peer, against their root. The node calls it
// after a snapshot import, before Start executes anything; an error means
// the state is forged or incomplete.
type StateVerifier interface {
	VerifyState() error
}

const (
	snapshotMarkerFile = "snapshot-import.json"
	// snapshotProbe is how long a starting node waits for any peer to
	// tell its height, snapshotSettle how long for more after the first;
	// snapshotProbeResume is the wait for a peer that can serve when an
	// interrupted import must be finished.
	snapshotProbe       = time.Second
	snapshotSettle      = 300 * time.Millisecond
	snapshotProbeResume = 30 * time.Second
)

// importMarker is the marker file's content.
type importMarker struct {
	Peer    uint64    `json:"peer"`
	Height  uint64    `json:"height"`
	Started time.Time `json:"started"`
	// Refused are the peers whose snapshot failed verification: the next
	// import asks the others.
	Refused []uint64 `json:"refused,omitempty"`
}

// CatchUpFromSnapshot asks the peers for their heights and, if the highest
// is at least Config.SnapshotAfter blocks ahead of this node's ledger (0
// disables it), replaces this node's state and ledger by a snapshot of that
// peer's state: the snapshot block's quorum signatures and the history
// tree's edge are checked before anything changes, the old namespaces are
// wiped, and the peer's plaintext key/value pairs are stored under this
// node's at-rest key. Call it after Open and before building and
// registering the applications. When no peer can serve a snapshot the node
// catches up block by block as before.
func (n *Node) CatchUpFromSnapshot(bus *nats.Conn) error {
	marker, err := n.readMarker()
	if err != nil {
		return err
	}
	if marker == nil && n.cfg.SnapshotAfter == 0 {
		return nil
	}
	// The consensus set this node knows (genesis, or what governance made
	// it by its height): the snapshot block must carry a quorum of it.
	peers := n.Peers()
	others := 0
	for _, p := range peers {
		if p.ID != n.self {
			others++
		}
	}
	if bus == nil || others == 0 {
		if marker != nil {
			return fmt.Errorf("%w: an import from node %d was interrupted, and this node has no peers to import from", ErrSnapshotImport, marker.Peer)
		}
		return nil
	}
	client, err := consensus.NewSnapshotClient(consensus.Options{
		Self: n.self, Key: n.id.Key, Peers: peers, Keys: n.keys, Chain: n,
		Transport: consensus.NewBusTransport(bus, n.genesis.Network), Log: n.log,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	// A chunk travels as one bus message.
	chunk := consensus.SnapshotChunkBytes
	if mp := int(bus.MaxPayload()); mp > 0 {
		chunk = min(chunk, mp/2)
	}

	own := n.ledger.Height()
	heights := n.probeHeights(client, marker != nil, others, len(peers))
	var candidates []consensus.PeerHeight
	highest := own
	for _, p := range heights {
		highest = max(highest, p.Height)
		if marker != nil && slices.Contains(marker.Refused, p.ID) {
			continue
		}
		if (marker != nil && p.Height >= own && p.Height > 0) || (marker == nil && p.Height >= own+n.cfg.SnapshotAfter && p.Height > own) {
			candidates = append(candidates, p)
		}
	}
	slices.SortFunc(candidates, func(a, b consensus.PeerHeight) int {
		switch {
		case a.Height > b.Height:
			return -1
		case a.Height < b.Height:
			return 1
		}
		return 0
	})
	if len(candidates) == 0 {
		if marker != nil {
			return fmt.Errorf("%w: an import from node %d at height %d was interrupted, and no peer can serve a snapshot now (%d answered); start the node again when its peers are up",
				ErrSnapshotImport, marker.Peer, marker.Height, len(heights))
		}
		if highest > own {
			n.log.Info("behind peers; catching up block by block", "height", own, "highest_peer", highest, "snapshot_after", n.cfg.SnapshotAfter)
		}
		return nil
	}

	touched := marker != nil // the state may already be half imported
	for _, p := range candidates {
		changed, err := n.importFrom(client, p, own, marker, chunk)
		touched = touched || changed
		if err == nil {
			return nil
		}
		n.log.Warn("snapshot catch-up from peer failed", "peer", p.ID, "peer_height", p.Height, "err", err)
	}
	if !touched {
		n.log.Warn("no peer served a usable snapshot; catching up block by block", "height", own, "highest_peer", highest)
		return nil
	}
	if n.ledger.Base() != 0 {
		return fmt.Errorf("%w: every peer failed to serve a snapshot and the ledger starts from one at block %d; start the node again when its peers are up", ErrSnapshotImport, n.ledger.Base())
	}
	// The ledger still holds every block: wipe the half-imported state and
	// let the applications execute the ledger again from genesis.
	if err := n.wipeNamespaces(nil); err != nil {
		return err
	}
	if err := n.reopenGov(); err != nil {
		return err
	}
	if err := n.removeMarker(); err != nil {
		return err
	}
	n.log.Error("snapshot import failed; state wiped, replaying the ledger from genesis and catching up block by block", "height", own)
	return nil
}

// probeHeights asks the peers for their heights and returns each one's
// highest answer. It stops as soon as a peer is far enough ahead, f+1 of
// the set (of size set) or all others answered, or a short wait passed: peers that do not answer at
// once are not running (nodes started together all are at the same
// height), and missing a snapshot only means catching up block by block.
// Finishing an interrupted import waits longer for a peer that can serve.
func (n *Node) probeHeights(client *consensus.SnapshotClient, resume bool, others, set int) []consensus.PeerHeight {
	own := n.ledger.Height()
	need := min(others, (set-1)/3+1)
	wait := snapshotProbe
	if resume {
		wait = snapshotProbeResume
	}
	best := map[uint64]uint64{}
	start := time.Now()
	var firstAnswer time.Time
	for {
		for _, p := range client.Heights() {
			best[p.ID] = max(best[p.ID], p.Height)
		}
		if len(best) > 0 && firstAnswer.IsZero() {
			firstAnswer = time.Now()
		}
		ahead := false
		for _, h := range best {
			ahead = ahead || (resume && h >= own && h > 0) || (!resume && h >= own+n.cfg.SnapshotAfter && h > own)
		}
		switch {
		case ahead, len(best) == others, !resume && len(best) >= need:
		case !resume && !firstAnswer.IsZero() && time.Since(firstAnswer) >= snapshotSettle:
		case time.Since(start) >= wait:
		default:
			time.Sleep(100 * time.Millisecond)
			continue
		}
		break
	}
	out := make([]consensus.PeerHeight, 0, len(best))
	for id, h := range best {
		out = append(out, consensus.PeerHeight{ID: id, Height: h})
	}
	return out
}

// importFrom imports the snapshot peer p serves. changed reports whether
// this node's state was touched.
func (n *Node) importFrom(client *consensus.SnapshotClient, p consensus.PeerHeight, own uint64, prev *importMarker, chunkBytes int) (changed bool, err error) {
	meta, err := client.Meta(p.ID)
	if err != nil {
		return false, err
	}
	h := &meta.Block.Header
	if h.Number < own || (prev == nil && h.Number == own) {
		return false, fmt.Errorf("%w: node %d served a snapshot at height %d, this node is at %d", consensus.ErrSnapshot, p.ID, h.Number, own)
	}
	root, err := ledger.EdgeRoot(h.HistorySize, meta.Edge)
	if err != nil || root != h.HistoryRoot {
		return false, fmt.Errorf("%w: history edge of block %d does not give its root: %v", consensus.ErrSnapshot, h.Number, err)
	}
	for _, ns := range meta.Namespaces {
		if err := state.CheckNamespace(ns); err != nil {
			return false, fmt.Errorf("%w: %w", consensus.ErrSnapshot, err)
		}
	}
	n.log.Info("catching up from snapshot", "peer", p.ID, "height", h.Number, "own_height", own, "behind", h.Number-own, "namespaces", meta.Namespaces)
	start := time.Now()

	m := &importMarker{Peer: p.ID, Height: h.Number, Started: start.UTC()}
	if prev != nil {
		m.Refused = prev.Refused
	}
	if err := n.writeMarker(m); err != nil {
		return false, err
	}
	if err := consensus.DiscardWAL(n.cfg.DataDir, n.log); err != nil {
		return true, err
	}
	if err := n.wipeNamespaces(meta.Namespaces); err != nil {
		return true, err
	}
	var keys, size int
	for _, ns := range meta.Namespaces {
		st := n.db.Namespace(ns)
		var from []byte
		for {
			c, err := client.Chunk(meta, ns, from, chunkBytes)
			if err != nil {
				return true, err
			}
			b := st.NewBatchWithSize(chunkBytes + chunkBytes/4)
			for i := range c.Keys {
				if err := b.Put(c.Keys[i], c.Values[i]); err != nil {
					b.Close()
					return true, err
				}
				size += len(c.Keys[i]) + len(c.Values[i])
			}
			err = b.Commit(false)
			b.Close()
			if err != nil {
				return true, err
			}
			keys += len(c.Keys)
			if c.Done {
				break
			}
			from = c.Next
		}
	}
	if err := n.db.Sync(); err != nil {
		return true, err
	}
	if err := n.ledger.ResetTo(meta.Block, meta.Edge); err != nil {
		return true, err
	}
	n.mu.Lock()
	n.head = meta.Block
	n.mu.Unlock()
	ledgerHeight.Set(float64(h.Number))
	if err := n.reopenGov(); err != nil {
		return true, err
	}
	n.imported = m
	n.log.Info("caught up from snapshot", "peer", p.ID, "height", h.Number, "keys", keys, "bytes", size,
		"duration", time.Since(start).Round(time.Millisecond), "head", h.Hash())
	return true, nil
}

// reopenGov reads governance again after its namespace was replaced:
// it keeps its tables in memory.
func (n *Node) reopenGov() error {
	g, err := gov.Open(n.db.Namespace(types.GovNamespace), n.genesis.Network, govGenesis(n.genesis), nodeVerifier(n.enc), n.log)
	if err != nil {
		return err
	}
	for i, app := range n.apps {
		if _, ok := app.(govApp); ok {
			n.apps[i] = govApp{g}
		}
	}
	n.gov = g
	return nil
}

// wipeNamespaces deletes every key of this node's namespaces and of extra.
func (n *Node) wipeNamespaces(extra []string) error {
	names, err := n.db.Namespaces()
	if err != nil {
		return err
	}
	for _, ns := range append(names, extra...) {
		if err := n.db.Namespace(ns).DeleteRange(nil, nil); err != nil {
			return fmt.Errorf("wipe namespace %s: %w", ns, err)
		}
	}
	return n.db.Sync()
}

// finishSnapshotImport runs at Start: it verifies the state a snapshot
// import left, through the applications, and then removes the marker.
func (n *Node) finishSnapshotImport() error {
	marker, err := n.readMarker()
	if err != nil || marker == nil {
		return err
	}
	if n.imported == nil {
		return fmt.Errorf("%w: an import from node %d at height %d did not finish; start the node with `coco node start`, which imports again", ErrSnapshotImport, marker.Peer, marker.Height)
	}
	for _, app := range n.apps {
		v, ok := app.(StateVerifier)
		if !ok {
			continue
		}
		start := time.Now()
		if err := v.VerifyState(); err != nil {
			n.log.Error("state imported from snapshot failed verification; wiping it", "peer", marker.Peer, "height", marker.Height, "namespace", app.Namespace(), "err", err)
			marker.Refused = append(marker.Refused, marker.Peer)
			if werr := n.writeMarker(marker); werr != nil {
				return werr
			}
			if werr := n.wipeNamespaces(nil); werr != nil {
				return werr
			}
			return fmt.Errorf("%w: the state node %d served at height %d failed verification in namespace %s (%w); it was wiped, and the next start imports from another peer",
				ErrSnapshotImport, marker.Peer, marker.Height, app.Namespace(), err)
		}
		n.log.Info("verified state imported from snapshot", "namespace", app.Namespace(), "height", marker.Height, "duration", time.Since(start).Round(time.Millisecond))
	}
	if err := n.removeMarker(); err != nil {
		return err
	}
	n.imported = nil
	return nil
}

// OpenSnapshot implements consensus.SnapshotSource. Consensus calls it
// between two commits.
func (n *Node) OpenSnapshot() (consensus.Snapshot, error) {
	head := n.Head()
	for _, app := range n.apps {
		if h := app.Height(); h != head.Header.Number {
			return nil, fmt.Errorf("%w: application %s is at block %d, the ledger at %d", consensus.ErrSnapshotUnavailable, app.Namespace(), h, head.Header.Number)
		}
	}
	for _, app := range n.apps {
		if f, ok := app.(Flusher); ok {
			if err := f.Flush(); err != nil {
				return nil, fmt.Errorf("flush %s for a snapshot: %w", app.Namespace(), err)
			}
		}
	}
	edge, err := n.ledger.Tree().Edge()
	if err != nil {
		return nil, err
	}
	snap, err := n.db.NewSnapshot()
	if err != nil {
		return nil, err
	}
	names, err := snap.Namespaces()
	if err != nil {
		snap.Close()
		return nil, err
	}
	return &servedSnapshot{block: head, edge: edge, names: names, snap: snap}, nil
}

type servedSnapshot struct {
	block *types.Block
	edge  []types.Hash
	names []string
	snap  *state.Snapshot
}

func (s *servedSnapshot) Block() *types.Block  { return s.block }
func (s *servedSnapshot) Edge() []types.Hash   { return s.edge }
func (s *servedSnapshot) Namespaces() []string { return s.names }
func (s *servedSnapshot) Close() error         { return s.snap.Close() }
func (s *servedSnapshot) Read(ns string, start []byte, fn func(k, v []byte) bool) error {
	return s.snap.Read(ns, start, fn)
}

func (n *Node) markerPath() string { return filepath.Join(n.cfg.DataDir, snapshotMarkerFile) }

func (n *Node) readMarker() (*importMarker, error) {
	b, err := os.ReadFile(n.markerPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot import marker: %w", err)
	}
	var m importMarker
	if err := json.Unmarshal(b, &m); err != nil {
		// Written atomically, so only tampering gets here; importing
		// again is still the safe answer.
		n.log.Warn("unreadable snapshot import marker; importing again", "err", err)
		return &importMarker{}, nil
	}
	return &m, nil
}

// writeMarker writes the marker durably: temporary file, fsync, rename,
// fsync of the directory.
func (n *Node) writeMarker(m *importMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(n.markerPath(), b); err != nil {
		return fmt.Errorf("write snapshot import marker: %w", err)
	}
	return nil
}

func (n *Node) removeMarker() error {
	if err := os.Remove(n.markerPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove snapshot import marker: %w", err)
	}
	return durable.SyncDir(n.cfg.DataDir)
}
