package consensus

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/batch"
	"github.com/cocoledger/coco/core/types"
)

// checkOriginOf is what every node checks of a batch before ordering it.
func (c *simCluster) checkOriginOf(sb *types.SealedBatch) error {
	cons := &Consensus{}
	cons.set.Store(newMembers(c.peers, 0))
	return cons.checkOrigin(sb)
}

// memSnapshot is a Snapshot over maps, recording whether it was closed.
type memSnapshot struct {
	block  *types.Block
	edge   []types.Hash
	data   map[string]map[string]string
	mu     sync.Mutex
	closed bool
}

func (s *memSnapshot) Block() *types.Block { return s.block }
func (s *memSnapshot) Edge() []types.Hash  { return s.edge }
func (s *memSnapshot) Namespaces() []string {
	var out []string
	for ns := range s.data {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}
func (s *memSnapshot) Read(ns string, start []byte, fn func(k, v []byte) bool) error {
	kv := s.data[ns]
	var keys []string
	for k := range kv {
		if k >= string(start) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fn([]byte(k), []byte(kv[k])) {
			return nil
		}
	}
	return nil
}
func (s *memSnapshot) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// snapChain serves snapshots of fixed data at its head; forge strips the
// head block's signatures, as a node lying about its state would have to.
type snapChain struct {
	*simChain
	data   map[string]map[string]string
	forge  bool
	mu     sync.Mutex
	opened []*memSnapshot
}

func (c *snapChain) OpenSnapshot() (Snapshot, error) {
	b := c.Head()
	if c.forge {
		forged := *b
		forged.Signatures = nil
		b = &forged
	}
	s := &memSnapshot{block: b, edge: []types.Hash{types.Sum([]byte("edge"))}, data: c.data}
	c.mu.Lock()
	c.opened = append(c.opened, s)
	c.mu.Unlock()
	return s, nil
}

func testData() map[string]map[string]string {
	big := map[string]string{}
	for i := range 3000 {
		big[fmt.Sprintf("key-%05d", i)] = strings.Repeat(fmt.Sprintf("%03d", i%1000), 33)
	}
	return map[string]map[string]string{"big": big, "small": {"only": "value"}}
}

// A node far behind fetches a peer's snapshot: the block it belongs to with
// a quorum of signatures, the edge and every namespace in chunks, sealed
// and signed; a peer that cannot serve or forges the block is refused, a
// peer serves at most two snapshots at a time, and stopping releases them.
func TestSnapshotServedToNodeFarBehind(t *testing.T) {
	c := newSimCluster(t, 4, 11)
	data := testData()
	chains := []Chain{
		&snapChain{simChain: c.chains[0], data: data},
		c.chains[1], // serves no snapshots
		&snapChain{simChain: c.chains[2], data: data, forge: true},
	}
	cfg := DefaultConfig()
	for i, ch := range chains {
		n, err := Start(cfg, Options{
			Self: uint64(i + 1), Key: c.keys[i], Peers: c.peers, Keys: c.ring, Chain: ch,
			Transport: c.net.transport(uint64(i + 1)), DataDir: c.dirs[i], Log: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[i] = n
	}
	defer c.stopAll()
	for k := range 10 {
		c.submit(k%3, fmt.Sprintf("tx-%d", k))
	}
	c.waitCommitted(10, 0, 1, 2)

	// Node 4 has not started consensus; its client answers heights.
	client, err := NewSnapshotClient(Options{
		Self: 4, Key: c.keys[3], Peers: c.peers, Keys: c.ring, Chain: c.chains[3], Transport: c.net.transport(4),
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	heights := client.Heights()
	if len(heights) != 3 {
		t.Fatalf("heights from %d peers, want 3: %v", len(heights), heights)
	}
	for _, h := range heights {
		if h.Height == 0 {
			t.Fatalf("peer %d reports height 0 after 10 transactions", h.ID)
		}
	}
	if got := c.nodes[0].peerHeights(); !slices.Contains(got, peerHeight{4, 0}) {
		t.Fatalf("node 1 sees heights %v, want node 4 at 0 among them", got)
	}

	if _, err := client.Meta(2); !errors.Is(err, ErrSnapshotUnavailable) {
		t.Fatalf("snapshot from a node without snapshots: %v, want ErrSnapshotUnavailable", err)
	}
	if _, err := client.Meta(3); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("snapshot whose block lacks signatures: %v, want ErrSnapshot", err)
	}
	meta, err := client.Meta(1)
	if err != nil {
		t.Fatal(err)
	}
	head := c.chains[0].Head()
	if meta.Block.Header.Number == 0 || meta.Block.Header.Number > head.Header.Number || len(meta.Block.Signatures) < 3 {
		t.Fatalf("snapshot at block %d with %d signatures; head %d", meta.Block.Header.Number, len(meta.Block.Signatures), head.Header.Number)
	}
	if !slices.Equal(meta.Namespaces, []string{"big", "small"}) || len(meta.Edge) != 1 || meta.Edge[0] != types.Sum([]byte("edge")) {
		t.Fatalf("snapshot namespaces %v, edge %v", meta.Namespaces, meta.Edge)
	}
	if again, err := client.Meta(1); err != nil || again.ID != meta.ID {
		t.Fatalf("second request at the same head: id %v (%v), want the same snapshot %d", again, err, meta.ID)
	}

	chunks := 0
	for _, ns := range meta.Namespaces {
		got := map[string]string{}
		var from []byte
		for {
			ch, err := client.Chunk(meta, ns, from, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			chunks++
			for i, k := range ch.Keys {
				got[string(k)] = string(ch.Values[i])
			}
			if ch.Done {
				break
			}
			from = ch.Next
		}
		if len(got) != len(data[ns]) {
			t.Fatalf("namespace %s: %d keys, want %d", ns, len(got), len(data[ns]))
		}
		for k, v := range data[ns] {
			if got[k] != v {
				t.Fatalf("namespace %s key %s: %q, want %q", ns, k, got[k], v)
			}
		}
	}
	if chunks < 5 {
		t.Fatalf("about 300 KB in 64 KiB chunks came in %d chunks", chunks)
	}
	unknown := *meta
	unknown.ID++
	if _, err := client.Chunk(&unknown, "big", nil, 64<<10); !errors.Is(err, ErrSnapshotUnavailable) {
		t.Fatalf("chunk of an unknown snapshot: %v, want ErrSnapshotUnavailable", err)
	}

	// A second snapshot at a later head; a third is refused while both live.
	c.submit(0, "tx-later")
	c.waitCommitted(11, 0)
	second, err := client.Meta(1)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == meta.ID || second.Block.Header.Number <= meta.Block.Header.Number {
		t.Fatalf("snapshot after a new block: id %d at %d, first %d at %d", second.ID, second.Block.Header.Number, meta.ID, meta.Block.Header.Number)
	}
	c.submit(0, "tx-latest")
	c.waitCommitted(12, 0)
	if _, err := client.Meta(1); !errors.Is(err, ErrSnapshotUnavailable) {
		t.Fatalf("third snapshot while two are served: %v, want ErrSnapshotUnavailable", err)
	}

	c.nodes[0].Stop()
	c.nodes[0] = nil
	sc := chains[0].(*snapChain)
	for i, s := range sc.opened {
		if !s.closed {
			t.Fatalf("snapshot %d still open after Stop", i)
		}
	}
}

// An answer sealed for one request does not pass for another, nor does a
// sealed answer pass for a batch.
func TestSnapshotAnswerIsBoundAndSealed(t *testing.T) {
	c := newSimCluster(t, 4, 3)
	keyOf := func(id uint64) ed25519.PublicKey { return c.peers[id-1].Key }
	ans := sealAnswer(c.ring, c.keys[0], 1, 4, kindSnapshotChunk, &snapshotChunk{ID: 7, Namespace: "secret-namespace", Done: true})
	var out snapshotChunk
	if err := openAnswer(ans, 4, 1, kindSnapshotChunk, keyOf, c.ring, &out); err != nil || out.ID != 7 {
		t.Fatalf("open: %v %+v", err, out)
	}
	if err := openAnswer(ans, 4, 1, kindSnapshot, keyOf, c.ring, &out); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("answer of another kind: %v, want ErrSnapshot", err)
	}
	if err := openAnswer(ans, 4, 2, kindSnapshotChunk, keyOf, c.ring, &out); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("node 1's answer taken for node 2's: %v, want ErrSnapshot", err)
	}
	if err := openAnswer(ans, 3, 1, kindSnapshotChunk, keyOf, c.ring, &out); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("an answer to node 4 opened by node 3: %v, want ErrSnapshot", err)
	}
	other, _ := batch.NewKeyring(1, bytes.Repeat([]byte{6}, 32))
	if err := openAnswer(ans, 4, 1, kindSnapshotChunk, keyOf, other, &out); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("opened without the ledger secret: %v, want ErrSnapshot", err)
	}
	if bytes.Contains(ans, []byte("secret-namespace")) {
		t.Fatal("the answer travels in clear")
	}
	// Sealed with origin 0, an answer is no batch any node accepts.
	env, err := bridge.Open(ans, 4, keyOf)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := types.DecodeSealedBatch(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.checkOriginOf(sb); err == nil {
		t.Fatal("a sealed snapshot answer passes as a batch")
	}
}
