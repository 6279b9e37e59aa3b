package node

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cocoledger/coco/core/ledger"
	"github.com/cocoledger/coco/core/types"
	"github.com/cocoledger/coco/enclave/virtual"
)

// hashChainApp is a deterministic application: its root chains the hashes of
// every transaction it executed, so replays and divergence are visible.
type hashChainApp struct {
	mu     sync.Mutex
	height uint64
	root   types.Hash
	txs    []string
}

func (a *hashChainApp) Namespace() string { return "test" }
func (a *hashChainApp) Height() uint64    { a.mu.Lock(); defer a.mu.Unlock(); return a.height }
func (a *hashChainApp) Root() types.Hash  { a.mu.Lock(); defer a.mu.Unlock(); return a.root }
func (a *hashChainApp) Execute(b *ExecBlock) (types.Hash, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b.Number <= a.height {
		return a.root, nil
	}
	if b.Number != a.height+1 {
		return types.Hash{}, fmt.Errorf("block %d after %d", b.Number, a.height)
	}
	for _, tx := range b.Txs {
		h := tx.Hash()
		a.root = types.Sum(a.root[:], h[:])
		a.txs = append(a.txs, string(tx.Payload))
	}
	a.height = b.Number
	return a.root, nil
}

func (a *hashChainApp) count() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.txs) }

func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	return cfg
}

func startNode(t *testing.T, dir string, app App) *Node {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	enc, err := virtual.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := DevGenesis(dir, enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(testConfig(dir), enc, g, log)
	if err != nil {
		t.Fatal(err)
	}
	n.Register(app)
	if err := n.Start(nil); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSingleNodeOrdersExecutesAndRestarts(t *testing.T) {
	dir := t.TempDir()
	app := &hashChainApp{}
	n := startNode(t, dir, app)
	for i := range 500 {
		if err := n.Submit(types.Tx{Namespace: "test", Payload: []byte(fmt.Sprintf("tx-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// The app executes a block before the node records it as head.
	waitFor(t, "500 executed txs", func() bool { return app.count() == 500 && n.Head().Header.HistorySize == 500 })
	for i, p := range app.txs {
		if p != fmt.Sprintf("tx-%d", i) {
			t.Fatalf("tx %d executed as %q: order not preserved", i, p)
		}
	}
	head := n.Head()
	if head.Header.HistorySize != 500 || head.Header.Number == 0 {
		t.Fatalf("head %d with history %d", head.Header.Number, head.Header.HistorySize)
	}
	if len(head.Signatures) != 1 {
		t.Fatalf("head has %d signatures", len(head.Signatures))
	}
	// Every transaction has an offline-verifiable receipt.
	r, err := n.Ledger().Receipt(types.Sum([]byte("test"), []byte{0}, []byte("tx-7")))
	if err != nil {
		t.Fatal(err)
	}
	pub := n.Identity().Key.Public()
	if err := ledger.VerifyReceipt(r, map[uint64]ed25519.PublicKey{1: pub.(ed25519.PublicKey)}, 1); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	rootBefore, heightBefore := app.Root(), head.Header.Number
	n.Stop()

	// The ledger holds no transaction plaintext.
	assertNoPlaintext(t, filepath.Join(dir, "db"), []byte("tx-42"))

	// A fresh app (its state lost) is rebuilt by replaying the ledger.
	app2 := &hashChainApp{}
	n2 := startNode(t, dir, app2)
	defer n2.Stop()
	if app2.Height() != heightBefore || app2.Root() != rootBefore {
		t.Fatalf("replay gave height %d root %s, want %d %s", app2.Height(), app2.Root(), heightBefore, rootBefore)
	}
	if err := n2.Submit(types.Tx{Namespace: "test", Payload: []byte("after restart")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "tx after restart", func() bool { return app2.count() == 501 && n2.Head().Header.HistorySize == 501 })
	roots := n2.Head().Header.PrevStateRoots
	if len(roots) != 2 || roots[0].Namespace != types.GovNamespace || roots[1].Namespace != "test" || roots[1].Root != rootBefore {
		t.Fatal("header does not carry the previous block's state root")
	}
}

func assertNoPlaintext(t *testing.T, dir string, needle []byte) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, needle) {
			t.Errorf("%s contains plaintext %q", path, needle)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIdentitySurvivesRestartAndRefusesForeignEnclave(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, &hashChainApp{})
	id := n.Identity().NodeID()
	n.Stop()
	n2 := startNode(t, dir, &hashChainApp{})
	if n2.Identity().NodeID() != id {
		t.Fatal("node identity changed across restart")
	}
	n2.Stop()
	// Another enclave cannot unseal this node's secrets.
	os.Remove(filepath.Join(dir, "virtual-enclave.key"))
	enc, _ := virtual.Open(dir, nil)
	g, err := LoadGenesis(filepath.Join(dir, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(testConfig(dir), enc, g, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("opened a node whose secrets were sealed by another enclave")
	}
}
