package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocoledger/coco/core/constitution"
	"github.com/cocoledger/coco/core/govapi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
)

// Run a network through transfers, a constitution change and a ledger
// secret rotation, stop every node, and restore it on a new node from one
// node's files and the members' recovery shares: every block and every
// balance matches what the network served before it was lost.
func TestRecoveryFromLedgerFiles(t *testing.T) {
	nw := newNetworkWithRoom(t, 4, 5, "tee")
	l := nw.startLoad(devKeys[2:6], nw.nodes[:2])
	waitUntil(t, 30*time.Second, "transfers", func() bool { return nw.ackCount() >= 200 })

	// Two shares per generation from now on: unanimity changes the
	// constitution, then a rotation issues generation 2 under it.
	member := func(i int) string { return filepath.Join(nw.dir, "members", fmt.Sprintf("member%d", i)) }
	src := constitution.Default()
	src.RecoveryThreshold = 2
	path := filepath.Join(t.TempDir(), "constitution.json")
	writeJSON(t, path, src)
	out, err := nw.govAs(0, member(0), "propose", "set-constitution", path)
	if err != nil {
		t.Fatalf("propose: %v\n%s", err, out)
	}
	id := strings.Fields(out)[1]
	id = strings.TrimSuffix(id, ":")
	for i := range 3 {
		if out, err := nw.govAs(i, member(i), "vote", id, "accept"); err != nil {
			t.Fatalf("vote: %v\n%s", err, out)
		}
	}
	nw.decide(1, "rotate-ledger-secret")
	waitUntil(t, 20*time.Second, "generation 2 everywhere", func() bool {
		for _, nd := range nw.nodes {
			if st, err := nd.status(); err != nil || st.SecretGen != 2 {
				return false
			}
		}
		return true
	})
	before := nw.ackCount()
	waitUntil(t, 30*time.Second, "transfers after the rotation", func() bool { return nw.ackCount() >= before+200 })
	l.stop()
	st := nw.assertSameChain(30 * time.Second)

	// What the network served, to compare with after the recovery.
	ctx := context.Background()
	ref := nw.nodes[0].eth
	hashes := map[uint64]common.Hash{}
	for _, n := range []uint64{1, st.EthBlock / 3, st.EthBlock / 2, st.EthBlock} {
		b, err := ref.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			t.Fatal(err)
		}
		hashes[n] = b.Hash()
	}
	balances := map[common.Address]*big.Int{}
	for _, k := range append(devKeys[2:6], devKeys[0]) {
		a := crypto.PubkeyToAddress(k.PublicKey)
		if balances[a], err = ref.BalanceAt(ctx, a, new(big.Int).SetUint64(st.EthBlock)); err != nil {
			t.Fatal(err)
		}
	}
	sinkAddr := common.HexToAddress("0x000000000000000000000000000000000000feed")
	balances[sinkAddr], _ = ref.BalanceAt(ctx, sinkAddr, new(big.Int).SetUint64(st.EthBlock))
	nw.stopAll()

	// A new node restores the network from node 2's files.
	dir := filepath.Join(t.TempDir(), "recovered")
	url := fmt.Sprintf("http://127.0.0.1:%d", nw.rpcPort+4)
	rec := launchAsync(t, filepath.Join(nw.logDir, "recovered.log"), url, "node", "recover",
		"--from", filepath.Join(nw.dir, "node2"), "--genesis", filepath.Join(nw.dir, "genesis.json"),
		"--data-dir", dir, "--rpc-addr", strings.TrimPrefix(url, "http://"), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", nw.busPort+4))
	var got nodeStatus
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("recovered node status %+v; log:\n%s", got, tail(readFile(rec.logPath), 30))
		}
	})
	c := &govapi.Client{URL: url}
	waitUntil(t, 30*time.Second, "the recovery endpoint", func() bool { _, err := c.RecoveryInfo(ctx); return err == nil })
	info, _ := c.RecoveryInfo(ctx)
	if len(info.Generations) != 2 || info.Generations[0].Threshold != 1 || info.Generations[1].Threshold != 2 {
		t.Fatalf("recovery needs %+v", info.Generations)
	}
	// A stranger's share is refused; one member is not enough for
	// generation 2; a second member completes it.
	stranger := filepath.Join(t.TempDir(), "stranger")
	if out, err := coco("keys", "new", "member", "--out", stranger); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := coco("gov", "recovery-share", "--node", url, "--as", stranger); err == nil {
		t.Fatalf("a stranger gave a share:\n%s", out)
	}
	if out, err := coco("gov", "recovery-share", "--node", url, "--as", member(0)); err != nil || !strings.Contains(out, "generation 2: share given (1 of 2 needed)") {
		t.Fatalf("first member: %v\n%s", err, out)
	}
	if out, err := coco("gov", "recovery-share", "--node", url, "--as", member(2)); err != nil || !strings.Contains(out, "rebuilt every ledger secret generation") {
		t.Fatalf("second member: %v\n%s", err, out)
	}

	// The restored node replays the whole ledger (every state root
	// checked against the signed headers) and serves the same chain.
	waitUntil(t, 60*time.Second, fmt.Sprintf("the restored node at the lost network's head %d %s (eth %d)", st.Height, st.HeadHash, st.EthBlock), func() bool {
		got = nodeStatus{}
		// A block or two may have been decided after the comparison point.
		return getJSON(url+"/status", &got) == nil && got.Height >= st.Height && got.EthBlock >= st.EthBlock
	})
	eth, err := ethclient.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer eth.Close()
	for n, h := range hashes {
		b, err := eth.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil || b.Hash() != h {
			t.Fatalf("block %d: %v, hash %v want %s", n, err, b, h)
		}
	}
	for a, want := range balances {
		if got, err := eth.BalanceAt(ctx, a, new(big.Int).SetUint64(st.EthBlock)); err != nil || got.Cmp(want) != 0 {
			t.Fatalf("balance of %s: %v %v, want %v", a, got, err, want)
		}
	}
	if !strings.Contains(readFile(rec.logPath), "replaying ledger into application") {
		t.Fatal("the restored node did not replay the ledger")
	}

	// The members' votes made the new node the consensus set, in a
	// recovery block; the network is closed until they open it.
	waitUntil(t, 20*time.Second, "the restored node ordering alone", func() bool {
		got = nodeStatus{}
		return getJSON(url+"/status", &got) == nil && got.Member && got.Nodes == 1
	})
	key := devKeys[7]
	nonce, err := eth.PendingNonceAt(ctx, crypto.PubkeyToAddress(key.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	tx := signTransfer(key, nonce, sinkAddr, big.NewInt(5), nil)
	if err := eth.SendTransaction(ctx, tx); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Fatalf("a closed recovered network took a transaction: %v", err)
	}
	out, err = coco("gov", "--node", url, "--as", member(1), "propose", "open-network")
	if err != nil {
		t.Fatalf("propose open-network: %v\n%s", err, out)
	}
	open := strings.TrimSuffix(strings.Fields(out)[1], ":")
	for _, m := range []int{0, 1} {
		if out, err := coco("gov", "--node", url, "--as", member(m), "vote", open, "accept"); err != nil {
			t.Fatalf("vote open-network: %v\n%s", err, out)
		}
	}
	if err := eth.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("transaction on the reopened network: %v", err)
	}
	waitUntil(t, 20*time.Second, "the first receipt of the recovered network", func() bool {
		r, err := eth.TransactionReceipt(ctx, tx.Hash())
		return err == nil && r.Status == 1
	})
	rec.stop()

	// The recovered ledger audits from genesis through the recovery block.
	out, err = coco("gov", "audit", "--data-dir", dir, "--genesis", filepath.Join(nw.dir, "genesis.json"))
	if err != nil || !strings.Contains(out, "audit ok") || !strings.Contains(out, "recover_network") {
		t.Fatalf("audit of the recovered ledger: %v\n%s", err, out)
	}
	t.Logf("restored %d blocks (%d Ethereum blocks, %d receipts acknowledged) on a new node from one node's files and two members' shares; reopened by vote", st.Height, st.EthBlock, nw.ackCount())
}
func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
