package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cocoledger/coco/core/gov"
	"github.com/cocoledger/coco/core/govapi"
	"github.com/cocoledger/coco/core/ledger"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
)

// portFlags are `coco testnet` flags matching nw's port layout.
func (nw *network) portFlags() []string {
	return []string{"--rpc-port", fmt.Sprint(nw.rpcPort), "--bus-port", fmt.Sprint(nw.busPort), "--cluster-port", fmt.Sprint(nw.clusterPort)}
}

// join adds node i with `coco testnet add-node` and runs `coco node join`
// in the background; it returns once the network has recorded the node as
// pending, with the node's id.
func (nw *network) join(i int) (*netNode, string) {
	t := nw.t
	t.Helper()
	args := append([]string{"testnet", "add-node", "--dir", nw.dir, "--index", fmt.Sprint(i)}, nw.portFlags()...)
	if out, err := coco(args...); err != nil {
		t.Fatalf("add-node %d: %v\n%s", i, err, out)
	}
	var info struct {
		NodeID string `json:"node_id"`
	}
	data, err := os.ReadFile(filepath.Join(nw.dir, fmt.Sprintf("node%d", i), "node.json"))
	if err != nil || json.Unmarshal(data, &info) != nil {
		t.Fatalf("node.json of node %d: %v", i, err)
	}
	nd := &netNode{i: i, nw: nw, logPath: filepath.Join(nw.logDir, fmt.Sprintf("node%d.log", i))}
	nw.nodes = append(nw.nodes, nd)
	nd.proc = launchJoin(t, nw, i, nd.logPath)
	nd.url = nd.proc.URL
	waitUntil(t, 20*time.Second, fmt.Sprintf("node %d recorded as pending", i), func() bool {
		return strings.Contains(readFile(nd.logPath), "recorded as pending")
	})
	return nd, info.NodeID
}

// decide has members 0 and 1 of nw's three pass one proposal through node
// via, and returns its id.
func (nw *network) decide(via int, action ...string) string {
	t := nw.t
	t.Helper()
	member := func(i int) string { return filepath.Join(nw.dir, "members", fmt.Sprintf("member%d", i)) }
	out, err := nw.govAs(via, member(0), append([]string{"propose"}, action...)...)
	m := regexp.MustCompile(`proposal ([0-9a-f]{64}): open`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("propose %v: %v\n%s", action, err, out)
	}
	for _, v := range []int{0, 1} {
		if out, err := nw.govAs(via, member(v), "vote", m[1], "accept"); err != nil {
			t.Fatalf("vote on %v: %v\n%s", action, err, out)
		}
	}
	if out, _ := nw.govAs(via, member(0), "show", m[1]); !strings.Contains(out, `"state": "accepted"`) {
		t.Fatalf("%v not accepted:\n%s", action, out)
	}
	return m[1]
}

// member waits until nd reports itself in a consensus set of size n, at
// the height of ref.
func (nd *netNode) waitMember(ref *netNode, n int) {
	nd.nw.t.Helper()
	waitUntil(nd.nw.t, 60*time.Second, fmt.Sprintf("node %d in a consensus set of %d, caught up", nd.i, n), func() bool {
		st, err := nd.status()
		rs, rerr := ref.status()
		return err == nil && rerr == nil && st.Member && st.Nodes == n && st.Height+2 >= rs.Height
	})
}

// Grow a four-node network to five and seven nodes and shrink it back to
// four, under load: joiners present their evidence, wait pending until
// the members trust them, catch up and take part in consensus; retired
// nodes stop. No committed transaction is lost, and commits never pause
// longer than a view change.
func TestMembershipGrowAndShrinkUnderLoad(t *testing.T) {
	nw := newNetworkWithRoom(t, 4, 7, "tee")
	watch := nw.nodes[0].watchCommits()
	start := time.Now()
	l := nw.startLoad(devKeys[2:8], []*netNode{nw.nodes[0], nw.nodes[2]})
	waitUntil(t, 30*time.Second, "load running", func() bool { return nw.ackCount() >= 50 })

	ids := map[int]string{}
	grow := func(i, size int) {
		nd, id := nw.join(i)
		ids[i] = id
		if st, err := nd.status(); err == nil {
			t.Fatalf("pending node %d already serves: %+v", i, st)
		}
		// Every genesis node has executed the join before a member proposes.
		waitUntil(t, 10*time.Second, "the pending node on every node", func() bool {
			for _, g := range nw.nodes[:4] {
				var nodes []gov.Node
				if g.proc == nil || (&govapi.Client{URL: g.url}).Get(context.Background(), "/nodes", &nodes) != nil {
					continue
				}
				if !slices.ContainsFunc(nodes, func(n gov.Node) bool { return n.ID == id && n.Status == gov.NodePending }) {
					return false
				}
			}
			return true
		})
		nw.decide(i%4, "trust-node", id)
		nd.waitMember(nw.nodes[0], size)
		nd.raw = nd.proc.rpcClient(t, nd.url)
		nd.eth = ethclient.NewClient(nd.raw)
		t.Logf("node %d joined: consensus set of %d at height %d, %d receipts so far", i, size, nd.mustStatus().Height, nw.ackCount())
	}
	grow(4, 5)
	grow(5, 6)
	grow(6, 7)

	// A transaction sent to a joined node is committed everywhere.
	before := nw.ackCount()
	waitUntil(t, 30*time.Second, "more receipts with seven nodes", func() bool { return nw.ackCount() >= before+100 })
	nw.assertSameChain(30 * time.Second)

	retire := func(i, size int) {
		nd := nw.nodes[i]
		var info struct {
			NodeID string `json:"node_id"`
		}
		data, _ := os.ReadFile(filepath.Join(nw.dir, fmt.Sprintf("node%d", i), "node.json"))
		_ = json.Unmarshal(data, &info)
		gen := nw.nodes[0].mustStatus().SecretGen
		nw.decide(0, "retire-node", info.NodeID)
		waitUntil(t, 30*time.Second, fmt.Sprintf("node %d out of the consensus set", i), func() bool {
			st, err := nd.status()
			rs, rerr := nw.nodes[0].status()
			return err == nil && rerr == nil && !st.Member && rs.Nodes == size
		})
		// Retiring rotates the ledger secret: the others seal with a
		// generation the retired node never receives.
		waitUntil(t, 30*time.Second, fmt.Sprintf("a new ledger secret without node %d", i), func() bool {
			for _, o := range nw.live() {
				if st, err := o.status(); o != nd && (err != nil || st.SecretGen <= gen) {
					return false
				}
			}
			return true
		})
		if st := nd.mustStatus(); st.SecretGen != gen {
			t.Fatalf("retired node %d on ledger secret generation %d, the network rotated from %d", i, st.SecretGen, gen)
		}
		nd.stop()
		t.Logf("node %d retired: consensus set of %d at height %d, ledger secret generation %d", i, size, nw.nodes[0].mustStatus().Height, nw.nodes[0].mustStatus().SecretGen)
	}
	// Shrink to four: two joiners and one genesis node.
	retire(6, 6)
	retire(1, 5)
	retire(5, 4)
	before = nw.ackCount()
	waitUntil(t, 30*time.Second, "more receipts after shrinking", func() bool { return nw.ackCount() >= before+100 })
	if errs := l.stop(); len(errs) > 0 {
		t.Logf("clients met %d errors (first: %s)", len(errs), errs[0])
	}
	gap, gapAt := longestGap(watch.stop(), start)
	t.Logf("longest gap between commits on node 0: %v (at %v); %d receipts", gap.Round(time.Millisecond), gapAt.Sub(start).Round(time.Millisecond), nw.ackCount())
	if gap > 10*time.Second {
		t.Fatalf("commits paused for %v, longer than a view change", gap)
	}
	st := nw.assertSameChain(30 * time.Second)
	if st.Nodes != 4 {
		t.Fatalf("final consensus set of %d", st.Nodes)
	}
	for _, nd := range nw.live() {
		nd.assertReceipts(nw.acked)
	}
	nw.stopAll()
}

// Governance decides which code may join: a node whose measurement is not
// allowed is refused at the door, and one whose measurement was revoked
// while it waited cannot be trusted.
func TestJoinFollowsAllowedMeasurements(t *testing.T) {
	nw := newNetworkWithRoom(t, 4, 6, "bft")
	measurement := func(i int) string {
		var info struct {
			Evidence struct {
				Measurement []byte `json:"measurement"`
			} `json:"evidence"`
		}
		data, _ := os.ReadFile(filepath.Join(nw.dir, fmt.Sprintf("node%d", i), "node.json"))
		if err := json.Unmarshal(data, &info); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x", info.Evidence.Measurement)
	}
	ours := measurement(0) // the same binary runs every node
	nw.decide(0, "allow-measurement", strings.Repeat("ab", 32))

	// Only other code is allowed: the join is refused, nothing recorded.
	args := append([]string{"testnet", "add-node", "--dir", nw.dir, "--index", "4"}, nw.portFlags()...)
	if out, err := coco(args...); err != nil {
		t.Fatalf("add-node: %v\n%s", err, out)
	}
	logPath := filepath.Join(nw.logDir, "node4.log")
	refused := launchJoin(t, nw, 4, logPath)
	waitUntil(t, 20*time.Second, "the join refused", func() bool {
		return strings.Contains(readFile(logPath), "measurement not allowed")
	})
	refused.kill()
	var nodes []gov.Node
	if err := (&govapi.Client{URL: nw.nodes[1].url}).Get(context.Background(), "/nodes", &nodes); err != nil || len(nodes) != 4 {
		t.Fatalf("nodes table after a refused join: %v %+v", err, nodes)
	}

	// Allowed, the node becomes pending; revoked before the vote, it
	// cannot be trusted.
	nw.decide(1, "allow-measurement", ours)
	nd, id := nw.join(5)
	nw.decide(2, "revoke-measurement", ours)
	member0 := filepath.Join(nw.dir, "members", "member0")
	if out, err := nw.govAs(3, member0, "propose", "trust-node", id); err == nil || !strings.Contains(out, "not an allowed measurement") {
		t.Fatalf("trusting a node whose code was revoked: %v\n%s", err, out)
	}
	if st, err := nd.status(); err == nil {
		t.Fatalf("untrusted node serves: %+v", st)
	}
	nd.kill()
	nw.assertSameChain(10 * time.Second)
	nw.stopAll()
}

// launchJoin starts `coco node join` for node i's existing config.
func launchJoin(t *testing.T, nw *network, i int, logPath string) *devNode {
	t.Helper()
	return launchAsync(t, logPath, fmt.Sprintf("http://127.0.0.1:%d", nw.rpcPort+i),
		"node", "join", "--config", filepath.Join(nw.dir, fmt.Sprintf("node%d", i), "config.yaml"), "--pprof")
}

// launchAsync starts coco without waiting for its banner (a node that
// waits for the members before it serves); url is where it will serve.
func launchAsync(t *testing.T, logPath, url string, args ...string) *devNode {
	t.Helper()
	p := startProc(t, cocoBin, nil, logPath, args, nil, nil)
	p.URL = url
	return p
}

// Rotating the ledger secret under load: every node installs the new
// generation in the same block, new batches use it, a restarted node and a
// node that joins afterwards read blocks of both generations, and no
// acknowledged transaction is lost.
func TestLedgerSecretRotationUnderLoad(t *testing.T) {
	nw := newNetworkWithRoom(t, 4, 5, "bft")
	l := nw.startLoad(devKeys[2:6], nw.nodes[:3])
	waitUntil(t, 30*time.Second, "load running", func() bool { return nw.ackCount() >= 50 })

	nw.decide(0, "rotate-ledger-secret")
	waitUntil(t, 20*time.Second, "every node on generation 2", func() bool {
		for _, nd := range nw.nodes {
			if st, err := nd.status(); err != nil || st.SecretGen != 2 {
				return false
			}
		}
		return true
	})
	rotatedAt := nw.nodes[0].mustStatus().Height
	// Operators see the same on /metrics, and no rotation left pending.
	waitUntil(t, 10*time.Second, "the rotation on node 0's /metrics", func() bool {
		m := nw.nodes[0].metrics()
		return strings.Contains(m, "\ncoco_ledger_secret_generation 2\n") && strings.Contains(m, "\ncoco_ledger_secret_rotation_pending 0\n")
	})
	before := nw.ackCount()
	waitUntil(t, 30*time.Second, "receipts after the rotation", func() bool { return nw.ackCount() >= before+100 })

	// A node restarted after the rotation reopens both generations.
	nw.nodes[3].kill()
	nw.nodes[3].start()
	// A node that joins after the rotation gets both and catches up over
	// blocks sealed with each.
	nd, id := nw.join(4)
	nw.decide(1, "trust-node", id)
	nd.waitMember(nw.nodes[0], 5)
	if st := nd.mustStatus(); st.SecretGen != 2 {
		t.Fatalf("joined node on generation %d", st.SecretGen)
	}
	nd.raw = nd.proc.rpcClient(t, nd.url)
	nd.eth = ethclient.NewClient(nd.raw)
	if errs := l.stop(); len(errs) > 0 {
		t.Logf("clients met %d errors (first: %s)", len(errs), errs[0])
	}
	st := nw.assertSameChain(30 * time.Second)
	t.Logf("rotated at height %d; %d receipts; head %d", rotatedAt, nw.ackCount(), st.Height)
	for _, n := range nw.live() {
		n.assertReceipts(nw.acked)
	}
	nw.stopAll()

	// In the ledger files: batches before the rotation sealed with
	// generation 1, the last ones with generation 2.
	pdb, err := pebble.Open(filepath.Join(nw.dir, "node0", "db"), &pebble.Options{ReadOnly: true, Logger: quietLog{}})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	led, err := ledger.Open(pdb)
	if err != nil {
		t.Fatal(err)
	}
	gens := map[uint64]int{}
	for b, err := range led.Blocks(1, led.Height()) {
		if err != nil {
			t.Fatal(err)
		}
		for _, sb := range b.Batches {
			gens[sb.KeyGen]++
			if b.Header.Number > rotatedAt+5 && sb.KeyGen != 2 {
				t.Fatalf("block %d (after the rotation at %d) has a batch sealed with generation %d", b.Header.Number, rotatedAt, sb.KeyGen)
			}
		}
	}
	if gens[1] == 0 || gens[2] == 0 {
		t.Fatalf("batches by generation: %v", gens)
	}
	t.Logf("batches by ledger secret generation: %v", gens)
}

type quietLog struct{}

func (quietLog) Infof(string, ...any)      {}
func (quietLog) Errorf(string, ...any)     {}
func (quietLog) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// A node joining after every genesis node was retired catches up from the
// set that trusted it, not from the long-gone set its own head knows.
func TestJoinAfterTheGenesisNodesAreGone(t *testing.T) {
	nw := newNetworkWithRoom(t, 4, 6, "tee")
	nw.decide(0, "set-params", "min_nodes=1")
	first, id := nw.join(4)
	nw.decide(0, "trust-node", id)
	first.waitMember(nw.nodes[0], 5)
	first.raw = first.proc.rpcClient(t, first.url)
	first.eth = ethclient.NewClient(first.raw)
	nodeID := func(i int) string {
		var info struct {
			NodeID string `json:"node_id"`
		}
		data, _ := os.ReadFile(filepath.Join(nw.dir, fmt.Sprintf("node%d", i), "node.json"))
		_ = json.Unmarshal(data, &info)
		return info.NodeID
	}
	for _, i := range []int{1, 2, 3, 0} {
		nw.decide(4, "retire-node", nodeID(i))
		nw.nodes[i].stop()
	}
	waitUntil(t, 20*time.Second, "node 4 ordering alone", func() bool {
		st, err := first.status()
		return err == nil && st.Member && st.Nodes == 1
	})
	second, id2 := nw.join(5)
	nw.decide(4, "trust-node", id2)
	second.waitMember(first, 2)
	second.raw = second.proc.rpcClient(t, second.url)
	second.eth = ethclient.NewClient(second.raw)
	tx := signTransfer(devKeys[3], 0, common.HexToAddress("0x000000000000000000000000000000000000feed"), big.NewInt(1), nil)
	second.send(tx)
	second.mustReceipt(tx.Hash())
	first.mustReceipt(tx.Hash())
	nw.assertSameChain(20 * time.Second)
	nw.stopAll()
}
