package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/state"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave/virtual"
	"github.com/nats-io/nats.go"
)

// kvApp keeps its state in its namespace of the node's database: one key
// per transaction, and its height, root and count; it verifies an imported
// state by counting the transaction keys.
type kvApp struct {
	st         *state.Store
	mu         sync.Mutex
	height     uint64
	root       types.Hash
	count      uint64
	failVerify bool
}

func openKVApp(t *testing.T, db *state.DB) *kvApp {
	t.Helper()
	a := &kvApp{st: db.Namespace("kv")}
	if v, err := a.st.Get([]byte("m/height")); err == nil {
		a.height = binary.BigEndian.Uint64(v)
		r, _ := a.st.Get([]byte("m/root"))
		copy(a.root[:], r)
		c, _ := a.st.Get([]byte("m/count"))
		a.count = binary.BigEndian.Uint64(c)
	} else if !errors.Is(err, state.ErrNotFound) {
		t.Fatal(err)
	}
	return a
}

func (a *kvApp) Namespace() string { return "kv" }
func (a *kvApp) Height() uint64    { a.mu.Lock(); defer a.mu.Unlock(); return a.height }
func (a *kvApp) Root() types.Hash  { a.mu.Lock(); defer a.mu.Unlock(); return a.root }
func (a *kvApp) txs() uint64       { a.mu.Lock(); defer a.mu.Unlock(); return a.count }

func (a *kvApp) Execute(b *ExecBlock) (types.Hash, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b.Number <= a.height {
		return a.root, nil
	}
	if b.Number != a.height+1 {
		return types.Hash{}, fmt.Errorf("block %d after %d", b.Number, a.height)
	}
	batch := a.st.NewBatch()
	defer batch.Close()
	for _, tx := range b.Txs {
		h := tx.Hash()
		a.root = types.Sum(a.root[:], h[:])
		a.count++
		if err := batch.Put(append([]byte("tx/"), h[:]...), tx.Payload); err != nil {
			return types.Hash{}, err
		}
	}
	a.height = b.Number
	for k, v := range map[string][]byte{"m/height": binary.BigEndian.AppendUint64(nil, a.height), "m/root": a.root[:], "m/count": binary.BigEndian.AppendUint64(nil, a.count)} {
		if err := batch.Put([]byte(k), v); err != nil {
			return types.Hash{}, err
		}
	}
	return a.root, batch.Commit(false)
}

func (a *kvApp) VerifyState() error {
	if a.failVerify {
		return errors.New("forged state (test)")
	}
	it := a.st.NewIterator([]byte("tx/"), nil)
	defer it.Release()
	var n uint64
	for it.Next() {
		n++
	}
	if n != a.txs() {
		return fmt.Errorf("%d transaction keys, count says %d", n, a.txs())
	}
	return it.Error()
}

// logBuffer collects a node's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// snapNet is a testNet whose nodes run kvApp and catch up from snapshots.
type snapNet struct {
	*testNet
	kv   []*kvApp
	logs []*logBuffer
	sent uint64 // transactions submitted so far; each commits once
}

func newSnapNet(t *testing.T) *snapNet {
	tn := newTestNet(t, 4, TrustBFT)
	sn := &snapNet{testNet: tn, kv: make([]*kvApp, 4), logs: make([]*logBuffer, 4)}
	t.Cleanup(tn.stopAll)
	return sn
}

// start opens node i, catches up from a snapshot if it is snapshotAfter
// blocks behind, and starts it; errors are returned, not fatal.
func (sn *snapNet) start(i int, snapshotAfter uint64, failVerify bool) error {
	t := sn.t
	enc, err := virtual.Open(sn.dirs[i], nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(sn.dirs[i])
	cfg.SnapshotAfter = snapshotAfter
	if sn.logs[i] == nil {
		sn.logs[i] = &logBuffer{}
	}
	n, err := Open(cfg, enc, sn.g, slog.New(slog.NewTextHandler(sn.logs[i], nil)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := nats.Connect(sn.bus.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	fail := func(err error) error {
		n.Stop()
		conn.Close()
		return err
	}
	if err := n.CatchUpFromSnapshot(conn); err != nil {
		return fail(err)
	}
	app := openKVApp(t, n.State())
	app.failVerify = failVerify
	n.Register(app)
	if err := n.Start(conn); err != nil {
		return fail(err)
	}
	sn.nodes[i], sn.conns[i], sn.kv[i] = n, conn, app
	return nil
}

func (sn *snapNet) mustStart(i int, snapshotAfter uint64) {
	sn.t.Helper()
	if err := sn.start(i, snapshotAfter, false); err != nil {
		sn.t.Fatalf("start node %d: %v", i, err)
	}
}

// commit submits txs one at a time through the given nodes and waits
// until the node it entered through executed it, so that every one makes a
// block.
func (sn *snapNet) commit(prefix string, count int, through ...int) {
	sn.t.Helper()
	for k := range count {
		i := through[k%len(through)]
		sn.sent++
		want := sn.sent
		if err := sn.nodes[i].Submit(types.Tx{Namespace: "kv", Payload: []byte(fmt.Sprintf("%s-%d", prefix, k))}); err != nil {
			sn.t.Fatal(err)
		}
		waitFor(sn.t, fmt.Sprintf("node %d to execute %s-%d", i, prefix, k), func() bool { return sn.kv[i].txs() >= want })
	}
}

func (sn *snapNet) assertSame(ids ...int) {
	sn.t.Helper()
	ref := sn.nodes[ids[0]]
	for _, i := range ids[1:] {
		n := sn.nodes[i]
		waitFor(sn.t, fmt.Sprintf("node %d at node %d's head", i, ids[0]), func() bool {
			return n.Head().Header.Hash() == ref.Head().Header.Hash() && sn.kv[i].Root() == sn.kv[ids[0]].Root()
		})
	}
}

// A node stopped while the others commit 40 blocks comes back from node
// snapshot: it holds the peers' state and head without the blocks before
// the snapshot, its consensus restarts at the snapshot, the next blocks'
// state roots match, and it keeps committing with the others.
func TestCatchUpFromSnapshot(t *testing.T) {
	sn := newSnapNet(t)
	for i := range 4 {
		sn.mustStart(i, 20)
	}
	sn.commit("before", 5, 0, 1, 2, 3)
	sn.assertSame(0, 1, 2, 3)
	sn.stop(3)
	sn.commit("while-down", 40, 0, 1, 2)
	behind := sn.nodes[0].Head().Header.Number

	sn.mustStart(3, 20)
	n := sn.nodes[3]
	log := sn.logs[3].String()
	if !strings.Contains(log, "caught up from snapshot") {
		t.Fatalf("node 3 did not catch up from a snapshot; log:\n%s", log)
	}
	base := n.Ledger().Base()
	if base < behind || n.Head().Header.Number < behind {
		t.Fatalf("ledger base %d, head %d; peers were at %d", base, n.Head().Header.Number, behind)
	}
	if _, err := n.Block(base - 1); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("block before the snapshot: %v, want ErrNotFound", err)
	}
	if sn.kv[3].txs() != 45 || sn.kv[3].Height() != base {
		t.Fatalf("imported kv app at height %d with %d txs, want %d and 45", sn.kv[3].Height(), sn.kv[3].txs(), base)
	}
	if _, err := os.Stat(filepath.Join(sn.dirs[3], snapshotMarkerFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("import marker left after a verified import: %v", err)
	}
	// New blocks carry the peers' state roots; node 3 checks them against
	// the imported state and commits.
	sn.commit("after", 10, 3, 0, 1, 2)
	sn.assertSame(0, 1, 2, 3)
	if got := sn.kv[3].txs(); got != 55 {
		t.Fatalf("node 3 executed %d txs, want 55", got)
	}

	// A restart without falling behind keeps the imported ledger and state.
	sn.stop(3)
	sn.mustStart(3, 20)
	if sn.nodes[3].Ledger().Base() != base || strings.Count(sn.logs[3].String(), "caught up from snapshot") != 1 {
		t.Fatalf("a restart close to the head imported again (base %d, was %d)", sn.nodes[3].Ledger().Base(), base)
	}
	sn.commit("restart", 4, 3, 0)
	sn.assertSame(0, 1, 2, 3)
}

// An import interrupted by a crash (marker left) is done again on the next
// start, whatever the distance; without an import in the same process,
// Start refuses a database with the marker.
func TestInterruptedSnapshotImportIsRedone(t *testing.T) {
	sn := newSnapNet(t)
	for i := range 4 {
		sn.mustStart(i, 0)
	}
	sn.commit("tx", 6, 0, 1, 2, 3)
	sn.assertSame(0, 1, 2, 3)
	sn.stop(3)
	sn.commit("tx2", 3, 0, 1, 2)

	// A crash after the marker was written and part of the state changed.
	n3 := &Node{cfg: Config{DataDir: sn.dirs[3]}, log: slog.New(slog.DiscardHandler)}
	if err := n3.writeMarker(&importMarker{Peer: 1, Height: 5}); err != nil {
		t.Fatal(err)
	}
	enc, err := virtual.Open(sn.dirs[3], nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(testConfig(sn.dirs[3]), enc, sn.g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.State().Namespace("kv").Put([]byte("tx/half-imported"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	n.Register(openKVApp(t, n.State()))
	if err := n.Start(nil); !errors.Is(err, ErrSnapshotImport) {
		t.Fatalf("start over an interrupted import without importing: %v, want ErrSnapshotImport", err)
	}
	n.Stop()

	// Snapshots disabled and 3 blocks behind: the marker still forces it.
	sn.mustStart(3, 0)
	if !strings.Contains(sn.logs[3].String(), "caught up from snapshot") {
		t.Fatalf("interrupted import not redone; log:\n%s", sn.logs[3].String())
	}
	if got := sn.kv[3].txs(); got != 9 {
		t.Fatalf("after the import node 3 has %d txs, want 9 (the stray key wiped)", got)
	}
	sn.commit("tx3", 3, 3, 0)
	sn.assertSame(0, 1, 2, 3)
}

// A snapshot whose state fails the application's verification is wiped,
// Start fails with a clear error, and the next start imports from another
// peer.
func TestSnapshotFailingVerificationIsRefused(t *testing.T) {
	sn := newSnapNet(t)
	for i := range 4 {
		sn.mustStart(i, 5)
	}
	sn.stop(3)
	sn.commit("tx", 12, 0, 1, 2)

	err := sn.start(3, 5, true)
	if !errors.Is(err, ErrSnapshotImport) || !strings.Contains(err.Error(), "failed verification") {
		t.Fatalf("start with a state failing verification: %v", err)
	}
	n3 := &Node{cfg: Config{DataDir: sn.dirs[3]}, log: slog.New(slog.DiscardHandler)}
	m, err := n3.readMarker()
	if err != nil || m == nil || len(m.Refused) != 1 {
		t.Fatalf("marker after refusal: %+v, %v", m, err)
	}
	refused := m.Refused[0]

	sn.mustStart(3, 5)
	log := sn.logs[3].String()
	if strings.Count(log, "caught up from snapshot") != 2 || strings.Contains(log[strings.LastIndex(log, "catching up from snapshot"):], fmt.Sprintf("peer=%d ", refused)) {
		t.Fatalf("second import not from another peer than %d; log:\n%s", refused, log)
	}
	sn.commit("tx2", 3, 3, 0)
	sn.assertSame(0, 1, 2, 3)
}
