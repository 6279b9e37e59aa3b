package e2e

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

// network is a local multi-node network laid out by `coco testnet init`,
// one `coco node start` process per node.
type network struct {
	t           *testing.T
	dir         string
	rpcPort     int
	busPort     int
	clusterPort int
	nodes       []*netNode
	logDir      string

	mu    sync.Mutex
	acked []served // every receipt a client was given
}

// netNode is node i of the network; proc is nil while it is down.
type netNode struct {
	// byzantine, if set, runs this node from the byzantine build in that
	// mode (COCO_BYZANTINE).
	byzantine string
	i         int
	nw        *network
	proc      *devNode
	paused    bool
	logPath   string
	url       string
	eth       *ethclient.Client
	raw       *rpc.Client
}

// nodeStatus is what GET /status reports.
type nodeStatus struct {
	Network    string `json:"network"`
	ID         uint64 `json:"id"`
	Nodes      int    `json:"nodes"`
	Member     bool   `json:"consensus_member"`
	SecretGen  uint64 `json:"ledger_secret_generation"`
	TrustModel string `json:"trust_model"`
	Height     uint64 `json:"height"`
	HeadHash   string `json:"head_hash"`
	View       uint64 `json:"view"`
	Leader     uint64 `json:"leader"`
	BusPeers   int    `json:"bus_peers"`
	Synced     uint64 `json:"synced_blocks"`
	EthBlock   uint64 `json:"eth_block"`
	EthHash    string `json:"eth_block_hash"`
	PendingTxs int    `json:"pending_txs"`
}

// freePortBlock finds n consecutive free loopback ports below the kernel's
// ephemeral range, so outgoing connections do not take them meanwhile.
func freePortBlock(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(12000-n)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no block of free ports found")
	return 0
}

// newNetwork lays out an n-node network with the given trust model and
// starts every node; byzantine[i], when given and not empty, runs node i
// from the byzantine build in that mode.
func newNetwork(t *testing.T, n int, trust string, byzantine ...string) *network {
	t.Helper()
	return newNetworkWithRoom(t, n, n, trust, byzantine...)
}

// newNetworkWithRoom leaves ports for nodes that join later, up to room.
func newNetworkWithRoom(t *testing.T, n, room int, trust string, byzantine ...string) *network {
	t.Helper()
	return layOutNetwork(t, n, room, trust, "", byzantine...)
}

// layOutNetwork is newNetworkWithRoom, with every node on the external NATS
// cluster at busURL when it is not empty.
func layOutNetwork(t *testing.T, n, room int, trust, busURL string, byzantine ...string) *network {
	t.Helper()
	base := freePortBlock(t, 3*room)
	nw := &network{t: t, dir: filepath.Join(t.TempDir(), "net"), rpcPort: base, busPort: base + room, clusterPort: base + 2*room}
	out, err := exec.Command(cocoBin, "testnet", "init", "--dir", nw.dir, "--nodes", fmt.Sprint(n), "--trust-model", trust,
		"--rpc-port", fmt.Sprint(nw.rpcPort), "--bus-port", fmt.Sprint(nw.busPort), "--cluster-port", fmt.Sprint(nw.clusterPort),
		"--bus-url", busURL).CombinedOutput()
	if err != nil {
		t.Fatalf("coco testnet init: %v\n%s", err, out)
	}
	// Logs go to COCO_E2E_LOG_DIR when set, to outlive the test.
	logDir := t.TempDir()
	if keep := os.Getenv("COCO_E2E_LOG_DIR"); keep != "" {
		logDir = filepath.Join(keep, fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano()))
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	nw.logDir = logDir
	for i := range n {
		nd := &netNode{i: i, nw: nw, logPath: filepath.Join(logDir, fmt.Sprintf("node%d.log", i))}
		if i < len(byzantine) {
			nd.byzantine = byzantine[i]
		}
		nw.nodes = append(nw.nodes, nd)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range nw.nodes {
				t.Logf("node %d log (%s), last lines:\n%s", nd.i, nd.logPath, tail(readFile(nd.logPath), 40))
			}
		}
	})
	for _, nd := range nw.nodes {
		nd.start()
	}
	// Consensus messages sent before the NATS routes are up are retransmitted,
	// but a network whose bus is not yet meshed is not what the tests are about.
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		last = ""
		for _, nd := range nw.nodes {
			st, err := nd.status()
			last += fmt.Sprintf("\n  node %d: bus peers %d, nodes %d, trust model %q, err %v", nd.i, st.BusPeers, st.Nodes, st.TrustModel, err)
			meshed := st.BusPeers >= n-1 || (busURL != "" && st.BusPeers == -1) // -1: external bus
			ok = ok && err == nil && meshed && st.Nodes == n && st.TrustModel == trust
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the network did not come up within 30s:%s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nw
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// start runs the node's process over its config and data directory.
func (nd *netNode) start() {
	t := nd.nw.t
	t.Helper()
	if nd.proc != nil {
		t.Fatalf("node %d is already running", nd.i)
	}
	cfg := filepath.Join(nd.nw.dir, fmt.Sprintf("node%d", nd.i), "config.yaml")
	// --pprof lets a failing test save the nodes' goroutines.
	bin, env := cocoBin, []string(nil)
	if nd.byzantine != "" {
		bin, env = byzBin, []string{"COCO_BYZANTINE=" + nd.byzantine}
	}
	nd.proc = launchWith(t, bin, env, nd.logPath, []string{"node", "start", "--config", cfg, "--pprof"}, func(line string) bool {
		return strings.HasPrefix(line, " Trust model")
	})
	if want := fmt.Sprintf("http://127.0.0.1:%d", nd.nw.rpcPort+nd.i); nd.proc.URL != want {
		t.Fatalf("node %d serves %s, want %s", nd.i, nd.proc.URL, want)
	}
	proc := nd.proc
	// Registered after launch's kill, so it runs before it.
	t.Cleanup(func() {
		if (t.Failed() || t.Skipped()) && nd.proc == proc {
			nd.dumpGoroutines()
		}
	})
	if nd.eth == nil {
		// The URL is the same across restarts; HTTP clients reconnect.
		nd.url = nd.proc.URL
		nd.raw = nd.proc.rpcClient(t, nd.url)
		nd.eth = ethclient.NewClient(nd.raw)
	}
}

// dumpGoroutines saves the node's goroutine stacks next to its log when
// the logs are kept (COCO_E2E_LOG_DIR).
func (nd *netNode) dumpGoroutines() {
	if os.Getenv("COCO_E2E_LOG_DIR") == "" {
		return
	}
	if nd.paused {
		nd.resume()
	}
	path := filepath.Join(nd.nw.logDir, fmt.Sprintf("node%d-goroutines.txt", nd.i))
	if os.WriteFile(path, []byte(nd.goroutines()), 0o644) == nil {
		nd.nw.t.Logf("node %d goroutines: %s", nd.i, path)
	}
}

// kill sends SIGKILL.
func (nd *netNode) kill() {
	nd.nw.t.Helper()
	if nd.proc == nil {
		nd.nw.t.Fatalf("node %d is not running", nd.i)
	}
	nd.proc.kill()
	if !nd.proc.gone.Load() {
		nd.nw.t.Fatalf("node %d did not die on SIGKILL", nd.i)
	}
	nd.proc, nd.paused = nil, false
}

// stop sends SIGINT and expects a clean exit.
func (nd *netNode) stop() {
	nd.nw.t.Helper()
	nd.proc.stop()
	nd.proc = nil
}

// pause freezes the process (SIGSTOP): it neither sends nor reads, and its
// peers' messages queue up in the kernel or are dropped by NATS.
func (nd *netNode) pause() {
	if err := nd.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		nd.nw.t.Fatal(err)
	}
	nd.paused = true
}

func (nd *netNode) resume() {
	if err := nd.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		nd.nw.t.Fatal(err)
	}
	nd.paused = false
}

var statusClient = &http.Client{Timeout: 3 * time.Second}

func (nd *netNode) status() (nodeStatus, error) {
	var st nodeStatus
	resp, err := statusClient.Get(fmt.Sprintf("http://127.0.0.1:%d/status", nd.nw.rpcPort+nd.i))
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("node %d status: HTTP %d", nd.i, resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// page is the body of a GET of path on the node's RPC port, empty when it
// does not answer.
func (nd *netNode) page(path string) string {
	resp, err := statusClient.Get(fmt.Sprintf("http://127.0.0.1:%d%s", nd.nw.rpcPort+nd.i, path))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metrics is the node's /metrics page.
func (nd *netNode) metrics() string { return nd.page("/metrics") }

func (nd *netNode) mustStatus() nodeStatus {
	nd.nw.t.Helper()
	st, err := nd.status()
	if err != nil {
		nd.nw.t.Fatalf("node %d: %v", nd.i, err)
	}
	return st
}

// live are the running, unpaused nodes.
func (nw *network) live() []*netNode {
	var out []*netNode
	for _, nd := range nw.nodes {
		if nd.proc != nil && !nd.paused {
			out = append(out, nd)
		}
	}
	return out
}

// leader is the node every live node names as leader.
func (nw *network) leader() *netNode {
	t := nw.t
	t.Helper()
	var leader uint64
	waitUntil(t, 30*time.Second, "live nodes to agree on a leader", func() bool {
		leader = 0
		for _, nd := range nw.live() {
			st, err := nd.status()
			if err != nil || st.Leader == 0 || (leader != 0 && st.Leader != leader) {
				return false
			}
			leader = st.Leader
		}
		return true
	})
	return nw.nodes[leader-1] // consensus ids are 1..n in node order
}

// others are the nodes other than those given.
func (nw *network) others(except ...*netNode) []*netNode {
	var out []*netNode
	for _, nd := range nw.nodes {
		if !slices.Contains(except, nd) {
			out = append(out, nd)
		}
	}
	return out
}

func (nw *network) ack(r *types.Receipt) {
	nw.mu.Lock()
	nw.acked = append(nw.acked, served{hash: r.TxHash, block: r.BlockHash, num: r.BlockNumber.Uint64()})
	nw.mu.Unlock()
}

func (nw *network) ackCount() int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return len(nw.acked)
}

// stopAll stops every running node with Ctrl-C, as an operator would.
func (nw *network) stopAll() {
	nw.t.Helper()
	for _, nd := range nw.nodes {
		if nd.paused {
			nd.resume()
		}
		if nd.proc != nil {
			nd.stop()
		}
	}
}

var chainID = big.NewInt(49344)

func signTransfer(key *ecdsa.PrivateKey, nonce uint64, to common.Address, value *big.Int, data []byte) *types.Transaction {
	// EIP-7623: calldata costs at least 40 gas a byte.
	gas := uint64(21000 + 40*len(data))
	return types.MustSignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, To: &to, Value: value, Gas: gas, Data: data,
		GasTipCap: big.NewInt(params.GWei), GasFeeCap: big.NewInt(3 * params.GWei),
	})
}

// send submits tx through node nd and fails the test if it is refused.
func (nd *netNode) send(tx *types.Transaction) {
	nd.nw.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nd.eth.SendTransaction(ctx, tx); err != nil {
		nd.nw.t.Fatalf("send %s through node %d: %v", tx.Hash(), nd.i, err)
	}
}

// receiptWithin polls node nd for a receipt; nil if none came within d.
func (nd *netNode) receiptWithin(hash common.Hash, d time.Duration) *types.Receipt {
	nd.nw.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		r, err := nd.eth.TransactionReceipt(ctx, hash)
		cancel()
		if err == nil {
			return r
		}
		if !errors.Is(err, ethereum.NotFound) && !isTransient(err) {
			nd.nw.t.Fatalf("node %d: receipt %s: %v", nd.i, hash, err)
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustReceipt waits up to 30 s for a successful receipt from node nd and
// records it as acknowledged.
func (nd *netNode) mustReceipt(hash common.Hash) *types.Receipt {
	nd.nw.t.Helper()
	r := nd.receiptWithin(hash, 30*time.Second)
	if r == nil {
		nd.nw.t.Fatalf("node %d served no receipt for %s within 30s", nd.i, hash)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		nd.nw.t.Fatalf("tx %s failed in block %d", hash, r.BlockNumber)
	}
	nd.nw.ack(r)
	return r
}

// isTransient is a transport error (a node restarting or overloaded), not
// an answer.
func isTransient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "EOF")
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle waits until every live node reports the same height and head, on
// the ledger and on the Ethereum chain, and returns that status.
func (nw *network) settle(d time.Duration) nodeStatus {
	nw.t.Helper()
	st, err := nw.trySettle(d)
	if err != nil {
		nw.t.Fatal(err)
	}
	return st
}

// trySettle is settle returning an error that describes every live node
// when they do not converge within d.
func (nw *network) trySettle(d time.Duration) (nodeStatus, error) {
	var (
		sts  []nodeStatus
		errs []error
	)
	deadline := time.Now().Add(d)
	for {
		live := nw.live()
		sts, errs = sts[:0], errs[:0]
		for _, nd := range live {
			st, err := nd.status()
			sts = append(sts, st)
			errs = append(errs, err)
		}
		same := len(sts) > 0 && errors.Join(errs...) == nil
		for _, st := range sts[min(1, len(sts)):] {
			same = same && st.Height == sts[0].Height && st.HeadHash == sts[0].HeadHash && st.EthBlock == sts[0].EthBlock && st.EthHash == sts[0].EthHash
		}
		if same {
			return sts[0], nil
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for i, nd := range live {
				fmt.Fprintf(&b, "\n  node %d: height %d head %.12s view %d leader %d eth %d %.14s pending %d err %v",
					nd.i, sts[i].Height, sts[i].HeadHash, sts[i].View, sts[i].Leader, sts[i].EthBlock, sts[i].EthHash, sts[i].PendingTxs, errs[i])
			}
			return nodeStatus{}, fmt.Errorf("live nodes did not converge within %v:%s", d, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// goroutines returns the node's goroutine stacks (the node runs with --pprof).
func (nd *netNode) goroutines() string { return nd.page("/debug/pprof/goroutine?debug=2") }

// failIfDeadlocked names the SmartBFT v1.0.1 deadlock when node nd shows it:
// the controller's run loop blocked in decide, sending on deliverChan to a
// view that was aborted meanwhile. third_party/smartbft carries the fix
// (hyperledger-labs/SmartBFT#681); this says so plainly if it ever comes back.
func (nd *netNode) failIfDeadlocked(failure string) {
	t := nd.nw.t
	t.Helper()
	for _, g := range strings.Split(nd.goroutines(), "\n\n") {
		first, _, _ := strings.Cut(g, "\n")
		if strings.Contains(first, "[select") && strings.Contains(g, "internal/bft.(*Controller).decide(") {
			t.Fatalf("node %d's SmartBFT controller is deadlocked (Controller.decide blocked after its view was aborted; see third_party/smartbft/README.md):\n%s\nwhile: %s", nd.i, g, failure)
		}
	}
}

type blockRef struct {
	Number     hexutil.Uint64 `json:"number"`
	Hash       common.Hash    `json:"hash"`
	ParentHash common.Hash    `json:"parentHash"`
}

// blocks reads the hashes of blocks 0..head from node nd in batches.
func (nd *netNode) blocks(head uint64) []blockRef {
	t := nd.nw.t
	t.Helper()
	out := make([]blockRef, head+1)
	for from := uint64(0); from <= head; from += 200 {
		var batch []rpc.BatchElem
		for n := from; n <= head && n < from+200; n++ {
			batch = append(batch, rpc.BatchElem{Method: "eth_getBlockByNumber", Args: []any{hexutil.Uint64(n), false}, Result: &out[n]})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := nd.raw.BatchCallContext(ctx, batch)
		cancel()
		if err != nil {
			t.Fatalf("node %d: blocks %d..: %v", nd.i, from, err)
		}
		for _, e := range batch {
			if e.Error != nil {
				t.Fatalf("node %d: %s %v: %v", nd.i, e.Method, e.Args, e.Error)
			}
		}
	}
	return out
}

// assertSameChain waits for the live nodes to settle, then checks that they
// hold the same chain block by block and that every receipt a client was
// given is still on every live node, in the same block. It returns the
// common head.
func (nw *network) assertSameChain(settleWithin time.Duration) nodeStatus {
	t := nw.t
	t.Helper()
	st, err := nw.trySettle(settleWithin)
	if err != nil {
		for _, nd := range nw.live() {
			nd.failIfDeadlocked(err.Error())
		}
		t.Fatal(err)
	}
	live := nw.live()
	if len(live) == 0 {
		t.Fatal("no live node")
	}
	ref := live[0].blocks(st.EthBlock)
	for n, b := range ref {
		if uint64(b.Number) != uint64(n) || (n > 0 && b.ParentHash != ref[n-1].Hash) {
			t.Fatalf("node %d: block %d (number %d) does not link to block %d", live[0].i, n, b.Number, n-1)
		}
	}
	if ref[st.EthBlock].Hash.Hex() != st.EthHash {
		t.Fatalf("node %d: head block hash %s, /status says %s", live[0].i, ref[st.EthBlock].Hash, st.EthHash)
	}
	for _, nd := range live[1:] {
		got := nd.blocks(st.EthBlock)
		for n := range got {
			if got[n].Hash != ref[n].Hash {
				t.Fatalf("fork: block %d is %s on node %d and %s on node %d", n, ref[n].Hash, live[0].i, got[n].Hash, nd.i)
			}
		}
	}
	nw.mu.Lock()
	acked := slices.Clone(nw.acked)
	nw.mu.Unlock()
	for _, nd := range live {
		nd.assertReceipts(acked)
	}
	t.Logf("%d live nodes agree on %d blocks (ledger height %d, head %.12s); %d acknowledged receipts present on all",
		len(live), st.EthBlock, st.Height, st.HeadHash, len(acked))
	return st
}

// assertReceipts checks that node nd serves every receipt in acked, in the
// block the client was told.
func (nd *netNode) assertReceipts(acked []served) {
	t := nd.nw.t
	t.Helper()
	for from := 0; from < len(acked); from += 200 {
		chunk := acked[from:min(from+200, len(acked))]
		rs := make([]*types.Receipt, len(chunk))
		batch := make([]rpc.BatchElem, len(chunk))
		for i, s := range chunk {
			batch[i] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{s.hash}, Result: &rs[i]}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := nd.raw.BatchCallContext(ctx, batch)
		cancel()
		if err != nil {
			t.Fatalf("node %d: receipts: %v", nd.i, err)
		}
		for i, s := range chunk {
			switch {
			case batch[i].Error != nil:
				t.Fatalf("node %d: receipt %s: %v", nd.i, s.hash, batch[i].Error)
			case rs[i] == nil:
				t.Fatalf("node %d: acknowledged tx %s (block %d) is gone", nd.i, s.hash, s.num)
			case rs[i].BlockHash != s.block || rs[i].Status != types.ReceiptStatusSuccessful:
				t.Fatalf("node %d: acknowledged tx %s moved from block %d %s to %d %s (status %d)", nd.i, s.hash, s.num, s.block, rs[i].BlockNumber, rs[i].BlockHash, rs[i].Status)
			}
		}
	}
}

// load streams transfers from a set of keys, each key through one node,
// recording every receipt served.
type load struct {
	nw     *network
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []string
}

// startLoad runs one sender per key; sender k submits through
// targets[k%len(targets)] and polls its receipts there, a few in flight.
func (nw *network) startLoad(keys []*ecdsa.PrivateKey, targets []*netNode) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{nw: nw, cancel: cancel}
	sink := common.HexToAddress("0x000000000000000000000000000000000000feed")
	for k, key := range keys {
		nd := targets[k%len(targets)]
		l.wg.Go(func() { l.sender(ctx, nd, key, sink) })
	}
	nw.t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) fail(format string, args ...any) {
	l.mu.Lock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
	l.mu.Unlock()
}

func (l *load) sender(ctx context.Context, nd *netNode, key *ecdsa.PrivateKey, to common.Address) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := nd.eth.PendingNonceAt(ctx, from)
	if err != nil {
		l.fail("node %d: nonce of %s: %v", nd.i, from, err)
		return
	}
	for ctx.Err() == nil {
		var sent []common.Hash
		for range 4 {
			tx := signTransfer(key, nonce, to, big.NewInt(1), nil)
			for {
				err := nd.eth.SendTransaction(ctx, tx)
				// A retried send whose first attempt got through is known,
				// or already committed.
				if err == nil || strings.Contains(err.Error(), "already known") || strings.Contains(err.Error(), "nonce too low") {
					break
				}
				if ctx.Err() != nil {
					return
				}
				l.fail("node %d: send nonce %d: %v", nd.i, nonce, err)
				time.Sleep(200 * time.Millisecond)
			}
			nonce++
			sent = append(sent, tx.Hash())
		}
		for _, h := range sent {
			for {
				r, err := nd.eth.TransactionReceipt(ctx, h)
				if err == nil {
					if r.Status != types.ReceiptStatusSuccessful {
						l.fail("node %d: tx %s failed", nd.i, h)
					}
					l.nw.ack(r)
					break
				}
				if ctx.Err() != nil {
					return
				}
				if !errors.Is(err, ethereum.NotFound) {
					l.fail("node %d: receipt %s: %v", nd.i, h, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// stop ends the load and reports the errors the senders met.
func (l *load) stop() []string {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

// commitWatch samples a node's height and view to see when commits happen.
type commitWatch struct {
	nd      *netNode
	cancel  context.CancelFunc
	done    chan struct{}
	samples []commitSample
}

type commitSample struct {
	at     time.Time
	height uint64
	view   uint64
}

func (nd *netNode) watchCommits() *commitWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &commitWatch{nd: nd, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if st, err := nd.status(); err == nil && (len(w.samples) == 0 || st.Height != w.samples[len(w.samples)-1].height) {
				w.samples = append(w.samples, commitSample{at: time.Now(), height: st.Height, view: st.View})
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	nd.nw.t.Cleanup(func() { w.stop() })
	return w
}

// stop ends sampling and returns the height changes seen.
func (w *commitWatch) stop() []commitSample {
	w.cancel()
	<-w.done
	return w.samples
}

// longestGap is the longest time between two observed commits after since.
func longestGap(samples []commitSample, since time.Time) (gap time.Duration, at time.Time) {
	prev := since
	for _, s := range samples {
		if s.at.Before(since) {
			continue
		}
		if d := s.at.Sub(prev); d > gap {
			gap, at = d, prev
		}
		prev = s.at
	}
	return gap, at
}
