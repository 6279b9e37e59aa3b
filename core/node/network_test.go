package node

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/cocoledger/coco/bridge"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave/virtual"
	"github.com/nats-io/nats.go"
)

type testNet struct {
	t      *testing.T
	dirs   []string
	apps   []*hashChainApp
	nodes  []*Node
	bus    *bridge.Bus
	g      *Genesis
	conns  []*nats.Conn
	logger *slog.Logger
}

// newTestNet creates n node identities and a genesis over one embedded NATS
// server; nodes are started with start.
func newTestNet(t *testing.T, n int, trust string) *testNet {
	t.Helper()
	cfg := bridge.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	bus, err := bridge.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	tn := &testNet{t: t, bus: bus, logger: slog.New(slog.DiscardHandler)}
	var infos []*Info
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i))
		_, info := initNode(t, dir)
		infos = append(infos, info)
		tn.dirs = append(tn.dirs, dir)
	}
	enc, _ := virtual.New(bytes.Repeat([]byte{1}, 32))
	tn.g, err = NewGenesis("test", infos, enc, [][]byte{enc.Measurement()}, trust, testGov(t, trust), nil)
	if err != nil {
		t.Fatal(err)
	}
	tn.apps = make([]*hashChainApp, n)
	tn.nodes = make([]*Node, n)
	tn.conns = make([]*nats.Conn, n)
	return tn
}

func (tn *testNet) start(i int) {
	t := tn.t
	enc, err := virtual.Open(tn.dirs[i], nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(tn.dirs[i])
	n, err := Open(cfg, enc, tn.g, tn.logger.With("node", i))
	if err != nil {
		t.Fatal(err)
	}
	if tn.apps[i] == nil {
		tn.apps[i] = &hashChainApp{}
	}
	n.Register(tn.apps[i])
	conn, err := nats.Connect(tn.bus.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(conn); err != nil {
		t.Fatal(err)
	}
	tn.nodes[i], tn.conns[i] = n, conn
}

func (tn *testNet) stop(i int) {
	tn.nodes[i].Stop()
	tn.conns[i].Close()
	tn.nodes[i] = nil
}

func (tn *testNet) stopAll() {
	for i := range tn.nodes {
		if tn.nodes[i] != nil {
			tn.stop(i)
		}
	}
}

func TestFourNodesOrderTheSameBlocks(t *testing.T) {
	tn := newTestNet(t, 4, TrustTEE)
	for i := range 4 {
		tn.start(i)
	}
	defer tn.stopAll()
	// Transactions enter at every node, leader or not.
	for i := range 200 {
		if err := tn.nodes[i%4].Submit(types.Tx{Namespace: "test", Payload: []byte(fmt.Sprintf("tx-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		waitFor(t, fmt.Sprintf("node %d to execute 200 txs", i), func() bool { return tn.apps[i].count() == 200 })
	}
	tn.assertSameChain(0, 1, 2, 3)
	if head := tn.nodes[2].Head(); len(head.Signatures) < 3 {
		t.Fatalf("block %d decided with %d signatures, quorum is 3", head.Header.Number, len(head.Signatures))
	}
	// Each node flushes its memtable in a turn of its own.
	seen := map[int]int{}
	for i := range 4 {
		turn, turns := tn.nodes[i].State().FlushTurn()
		if turns != 4 {
			t.Errorf("node %d: %d flush turns, want 4", i, turns)
		}
		if j, dup := seen[turn]; dup {
			t.Errorf("nodes %d and %d share flush turn %d", j, i, turn)
		}
		seen[turn] = i
	}
}

func TestStoppedNodeCatchesUpThroughSync(t *testing.T) {
	tn := newTestNet(t, 4, TrustBFT)
	for i := range 4 {
		tn.start(i)
	}
	defer tn.stopAll()
	tn.stop(3)
	for i := range 100 {
		if err := tn.nodes[i%3].Submit(types.Tx{Namespace: "test", Payload: []byte(fmt.Sprintf("tx-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		waitFor(t, fmt.Sprintf("node %d to execute 100 txs while node 3 is down", i), func() bool { return tn.apps[i].count() == 100 })
	}
	tn.start(3)
	// New traffic makes the restarted node notice it is behind.
	for i := range 10 {
		_ = tn.nodes[i%4].Submit(types.Tx{Namespace: "test", Payload: []byte(fmt.Sprintf("late-%d", i))})
	}
	for i := range 4 {
		waitFor(t, fmt.Sprintf("node %d to execute 110 txs", i), func() bool { return tn.apps[i].count() == 110 })
	}
	tn.assertSameChain(0, 1, 2, 3)
}

func (tn *testNet) assertSameChain(ids ...int) {
	tn.t.Helper()
	ref := tn.nodes[ids[0]]
	for _, i := range ids[1:] {
		n := tn.nodes[i]
		waitFor(tn.t, "equal heights", func() bool { return n.Head().Header.Number == ref.Head().Header.Number })
		for h := uint64(0); h <= ref.Head().Header.Number; h++ {
			a, _ := ref.Block(h)
			b, _ := n.Block(h)
			if a.Header.Hash() != b.Header.Hash() {
				tn.t.Fatalf("block %d differs between node %d and node %d", h, ids[0], i)
			}
		}
		if tn.apps[i].Root() != tn.apps[ids[0]].Root() {
			tn.t.Fatalf("state of node %d differs from node %d", i, ids[0])
		}
	}
}
