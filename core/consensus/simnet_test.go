package consensus

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/batch"
	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/types"
)

// simNet is an in-memory network with seeded faults: every message may be
// dropped, duplicated or delayed (which reorders), and nodes may be cut off.
type simNet struct {
	mu       sync.Mutex
	rng      *rand.Rand
	drop     float64
	dup      float64
	maxDelay time.Duration
	reqDelay time.Duration // round trip of a request (sync)
	cut      map[uint64]bool
	handlers map[uint64]simHandlers
	// tamper, if set, rewrites what a node sends (a byzantine node).
	tamper map[uint64]func(to uint64, data []byte) [][]byte
}

type simHandlers struct {
	msg func([]byte)
	req func([]byte) []byte
}

func newSimNet(seed uint64) *simNet {
	return &simNet{
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), cut: map[uint64]bool{},
		handlers: map[uint64]simHandlers{}, tamper: map[uint64]func(uint64, []byte) [][]byte{},
	}
}

type simTransport struct {
	net  *simNet
	self uint64
}

func (s *simNet) transport(id uint64) Transport { return &simTransport{net: s, self: id} }

func (t *simTransport) Send(to uint64, data []byte) {
	n := t.net
	n.mu.Lock()
	msgs := [][]byte{data}
	if f := n.tamper[t.self]; f != nil {
		msgs = f(to, data)
	}
	h, ok := n.handlers[to]
	if !ok || n.cut[to] || n.cut[t.self] {
		n.mu.Unlock()
		return
	}
	type delivery struct {
		data  []byte
		delay time.Duration
	}
	var out []delivery
	for _, m := range msgs {
		copies := 1
		if n.rng.Float64() < n.drop {
			copies = 0
		} else if n.rng.Float64() < n.dup {
			copies = 2
		}
		for range copies {
			var d time.Duration
			if n.maxDelay > 0 {
				d = time.Duration(n.rng.Int64N(int64(n.maxDelay)))
			}
			out = append(out, delivery{m, d})
		}
	}
	n.mu.Unlock()
	for _, d := range out {
		msg := bytes.Clone(d.data)
		time.AfterFunc(d.delay, func() { h.msg(msg) })
	}
}

var errSimUnreachable = errors.New("simnet: unreachable")

func (t *simTransport) Request(to uint64, data []byte, _ time.Duration) ([]byte, error) {
	t.net.mu.Lock()
	h, ok := t.net.handlers[to]
	unreachable := !ok || t.net.cut[to] || t.net.cut[t.self] || t.net.rng.Float64() < t.net.drop
	t.net.mu.Unlock()
	if unreachable {
		return nil, errSimUnreachable
	}
	time.Sleep(t.net.reqDelay)
	return h.req(data), nil
}

func (t *simTransport) Listen(self uint64, msg func([]byte), req func([]byte) []byte) (func(), error) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	t.net.handlers[self] = simHandlers{msg, req}
	return func() {
		t.net.mu.Lock()
		delete(t.net.handlers, self)
		t.net.mu.Unlock()
	}, nil
}

// simChain is a Chain in memory with a real history root.
type simChain struct {
	mu     sync.Mutex
	blocks []*types.Block
	leaves []types.Hash
	txs    []string
	// slow is how long every commit takes (a node short of CPU).
	slow atomic.Int64
}

func newSimChain() *simChain {
	return &simChain{blocks: []*types.Block{{Header: types.Header{TimeMs: 1, HistoryRoot: ledger.EmptyRoot}}}}
}

func (m *simChain) Head() *types.Block {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.blocks[len(m.blocks)-1]
}
func (m *simChain) StateRoots() []types.Root { return nil }
func (m *simChain) HistoryAfter(l []types.Hash) (uint64, types.Hash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := append(append([]types.Hash(nil), m.leaves...), l...)
	return uint64(len(all)), naiveRoot(all), nil
}
func (m *simChain) Commit(b *types.Block, batches []*types.Batch, leaves []types.Hash) error {
	time.Sleep(time.Duration(m.slow.Load()))
	m.mu.Lock()
	defer m.mu.Unlock()
	if b.Header.Number != uint64(len(m.blocks)) {
		return fmt.Errorf("commit %d at height %d", b.Header.Number, len(m.blocks)-1)
	}
	m.blocks = append(m.blocks, b)
	m.leaves = append(m.leaves, leaves...)
	for _, bt := range batches {
		for _, tx := range bt.Txs {
			m.txs = append(m.txs, string(tx.Payload))
		}
	}
	return nil
}
func (m *simChain) Block(n uint64) (*types.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n >= uint64(len(m.blocks)) {
		return nil, ledger.ErrNotFound
	}
	return m.blocks[n], nil
}
func (m *simChain) committed() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.txs...)
}

type simCluster struct {
	t      *testing.T
	net    *simNet
	keys   []ed25519.PrivateKey
	peers  []Peer
	ring   *batch.Keyring
	chains []*simChain
	nodes  []*Consensus
	dirs   []string
	seq    uint64
}

func newSimCluster(t *testing.T, n int, seed uint64) *simCluster {
	ring, _ := batch.NewKeyring(1, bytes.Repeat([]byte{5}, 32))
	c := &simCluster{t: t, net: newSimNet(seed), ring: ring}
	for i := range n {
		seedBytes := bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize)
		k := ed25519.NewKeyFromSeed(seedBytes)
		c.keys = append(c.keys, k)
		c.peers = append(c.peers, Peer{ID: uint64(i + 1), Key: k.Public().(ed25519.PublicKey)})
		c.chains = append(c.chains, newSimChain())
		c.dirs = append(c.dirs, t.TempDir())
	}
	c.nodes = make([]*Consensus, n)
	return c
}

func (c *simCluster) start(i int) {
	cfg := DefaultConfig()
	cfg.HeartbeatTimeout = 500 * time.Millisecond
	cfg.ComplainTimeout = time.Second
	cfg.ViewChangeTimeout = 2 * time.Second
	n, err := Start(cfg, Options{
		Self: uint64(i + 1), Key: c.keys[i], Peers: c.peers, Keys: c.ring, Chain: c.chains[i],
		Transport: c.net.transport(uint64(i + 1)), DataDir: c.dirs[i], Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = n
}

func (c *simCluster) stopAll() {
	for _, n := range c.nodes {
		if n != nil {
			n.Stop()
		}
	}
}

// submit seals a batch of one transaction at node i.
func (c *simCluster) submit(i int, payload string) {
	c.seq++
	sb, err := c.ring.Seal(&types.Batch{Origin: uint64(i + 1), Seq: c.seq, Txs: []types.Tx{{Namespace: "x", Payload: []byte(payload)}}}, c.keys[i])
	if err != nil {
		c.t.Fatal(err)
	}
	_ = c.nodes[i].Submit(nil, sb)
}

func (c *simCluster) waitCommitted(want int, nodes ...int) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, i := range nodes {
		for len(c.chains[i].committed()) < want {
			if time.Now().After(deadline) {
				c.t.Fatalf("node %d committed %d of %d transactions", i+1, len(c.chains[i].committed()), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// assertConsistent checks that the honest nodes hold the same blocks and
// that every transaction was committed exactly once.
func (c *simCluster) assertConsistent(want int, nodes ...int) {
	c.t.Helper()
	ref := c.chains[nodes[0]]
	for _, i := range nodes[1:] {
		other := c.chains[i]
		h := min(len(ref.blocks), len(other.blocks))
		for n := range h {
			if ref.blocks[n].Header.Hash() != other.blocks[n].Header.Hash() {
				c.t.Fatalf("fork: block %d differs between node %d and node %d", n, nodes[0]+1, i+1)
			}
		}
	}
	seen := map[string]int{}
	for _, tx := range ref.committed() {
		seen[tx]++
	}
	if len(seen) != want {
		c.t.Fatalf("%d distinct transactions committed, want %d", len(seen), want)
	}
	for tx, k := range seen {
		if k != 1 {
			c.t.Fatalf("transaction %s committed %d times", tx, k)
		}
	}
}

func TestSimulatedNetworkWithLossDuplicationAndReordering(t *testing.T) {
	c := newSimCluster(t, 4, 42)
	c.net.drop, c.net.dup, c.net.maxDelay = 0.05, 0.05, 20*time.Millisecond
	for i := range 4 {
		c.start(i)
	}
	defer c.stopAll()
	for k := range 60 {
		c.submit(k%4, fmt.Sprintf("tx-%d", k))
		time.Sleep(2 * time.Millisecond)
	}
	c.waitCommitted(60, 0, 1, 2, 3)
	c.assertConsistent(60, 0, 1, 2, 3)
}

func TestSimulatedPartitionedNodeCatchesUp(t *testing.T) {
	c := newSimCluster(t, 4, 7)
	for i := range 4 {
		c.start(i)
	}
	defer c.stopAll()
	c.net.mu.Lock()
	c.net.cut[4] = true
	c.net.mu.Unlock()
	for k := range 30 {
		c.submit(k%3, fmt.Sprintf("tx-%d", k))
	}
	c.waitCommitted(30, 0, 1, 2)
	if got := len(c.chains[3].committed()); got != 0 {
		t.Fatalf("partitioned node committed %d transactions", got)
	}
	c.net.mu.Lock()
	c.net.cut[4] = false
	c.net.mu.Unlock()
	for k := 30; k < 40; k++ {
		c.submit(k%4, fmt.Sprintf("tx-%d", k))
	}
	c.waitCommitted(40, 0, 1, 2, 3)
	c.assertConsistent(40, 0, 1, 2, 3)
}

// A byzantine node 4 sends garbage, envelopes with forged signatures, and
// consensus messages signed in another node's name; node 1, the leader,
// equivocates by sending one follower a different proposal. The honest
// nodes agree on one chain.
func TestSimulatedByzantineNodes(t *testing.T) {
	c := newSimCluster(t, 4, 99)
	rng := rand.New(rand.NewPCG(1, 2))
	c.net.tamper[4] = func(to uint64, data []byte) [][]byte {
		garbage := make([]byte, 64+rng.IntN(512))
		for i := range garbage {
			garbage[i] = byte(rng.IntN(256))
		}
		forged := bridge.Seal(c.keys[3], 1, to, kindConsensus, data) // claims to be node 1
		return [][]byte{data, garbage, forged}
	}
	c.net.tamper[1] = func(to uint64, data []byte) [][]byte {
		if to != 3 {
			return [][]byte{data}
		}
		return [][]byte{Equivocate(c.keys[0], 1, data)}
	}
	for i := range 4 {
		c.start(i)
	}
	defer c.stopAll()
	for k := range 40 {
		c.submit(k%3, fmt.Sprintf("tx-%d", k)) // honest nodes' clients
		time.Sleep(2 * time.Millisecond)
	}
	c.waitCommitted(40, 0, 1, 2)
	c.assertConsistent(40, 0, 1, 2)
}

// A crashed leader is replaced by one view change. The new leader sends its
// first proposal right behind its new-view message, and the follower that
// reaches the view-change quorum first sends its view data to a new leader
// that may not have reached it yet; either message used to be dropped for
// arriving early, which left the view change stuck until a timeout forced
// another one (in 8 of 12 seeded runs before the fix). So did the new
// leader's first pre-prepare reaching a follower whose controller had set
// the new view number but not started the new view yet (about 1 run in
// 100); the controller holds that one too now. Every run must take one
// view change, recover and stay consistent.
func TestSimulatedLeaderCrashTakesOneViewChange(t *testing.T) {
	const runs, allowed = 8, 0
	var slow []string
	for seed := range uint64(runs) {
		c := newSimCluster(t, 4, seed+1)
		for i := range 4 {
			c.start(i)
		}
		for k := range 8 {
			c.submit(k%4, fmt.Sprintf("before-%d", k))
		}
		c.waitCommitted(8, 0, 1, 2, 3)
		leader := int(c.nodes[0].Leader()) - 1
		view := c.nodes[leader].View()
		c.nodes[leader].Stop()
		c.net.mu.Lock()
		c.net.cut[uint64(leader+1)] = true
		c.net.mu.Unlock()

		var live []int
		for i := range 4 {
			if i != leader {
				live = append(live, i)
			}
		}
		for k := range 8 {
			c.submit(live[k%3], fmt.Sprintf("after-%d", k))
		}
		c.waitCommitted(16, live...)
		c.assertConsistent(16, live...)
		if v := c.nodes[live[0]].View(); v != view+1 {
			slow = append(slow, fmt.Sprintf("seed %d: view %d after the leader of view %d crashed", seed+1, v, view))
		}
		for _, i := range live {
			c.nodes[i].Stop()
		}
	}
	if len(slow) > allowed {
		t.Errorf("%d of %d runs needed more than one view change (at most %d expected): %v", len(slow), runs, allowed, slow)
	} else if len(slow) > 0 {
		t.Logf("%d of %d runs needed more than one view change: %v", len(slow), runs, slow)
	}
}

// A follower that fell behind (its commits slow for a while, as on a node
// short of CPU) syncs, and once it is fast again rejoins consensus instead
// of syncing every few blocks: sync asks again for blocks decided while it
// fetched, and the leader's pre-prepare sent during a sync is held for the
// restarted view.
func TestSimulatedSlowFollowerRejoins(t *testing.T) {
	c := newSimCluster(t, 4, 1)
	c.net.maxDelay = 5 * time.Millisecond
	c.net.reqDelay = 10 * time.Millisecond // a sync costs some round trips
	for i := range 4 {
		c.start(i)
	}
	defer c.stopAll()
	c.submit(0, "first")
	c.waitCommitted(1, 0, 1, 2, 3)
	leader := int(c.nodes[0].Leader()) - 1
	slow := (leader + 1) % 4
	var others []int
	for i := range 4 {
		if i != slow {
			others = append(others, i)
		}
	}
	sent := 1
	load := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); sent++ {
			c.submit(others[sent%3], fmt.Sprintf("tx-%d", sent))
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Every node takes time to execute a block, as on a busy machine; a
	// node that syncs must execute the blocks it fetched too, so it only
	// keeps up if sync adds little to that.
	const execute = 50 * time.Millisecond
	for i := range 4 {
		c.chains[i].slow.Store(int64(execute))
	}
	c.chains[slow].slow.Store(int64(250 * time.Millisecond))
	load(2 * time.Second)
	if c.nodes[slow].Synced() == 0 {
		t.Fatal("the slowed follower never fell behind: nothing tested")
	}
	c.chains[slow].slow.Store(int64(execute))
	load(3 * time.Second) // catching up
	before := c.nodes[slow].Synced()
	load(2 * time.Second)
	after := c.nodes[slow].Synced()
	c.waitCommitted(sent, 0, 1, 2, 3)
	c.assertConsistent(sent, 0, 1, 2, 3)
	if n := after - before; n > 8 { // about 20 without the fix
		t.Errorf("%d blocks came by sync 3–5 s after the follower was fast again (%d before): it did not rejoin consensus", n, before)
	}
}
