package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/nats-io/nats.go"
)

// Fault tests of a four-node network (f = 1), one process per node, each
// with its own embedded NATS server routed to the others. Every test ends
// with all live nodes holding the same chain and every receipt a client
// was given.

var sink = common.HexToAddress("0x000000000000000000000000000000000000c0c0")

// A transaction sent to one node is executed once and every node serves the
// same receipt in the same block; the same signed transaction sent to all
// four nodes at once is still executed once.
func TestNetworkCommitsTxOnceEverywhere(t *testing.T) {
	for _, trust := range []string{"bft", "tee"} {
		t.Run(trust, func(t *testing.T) {
			nw := newNetwork(t, 4, trust)
			key := devKeys[1]
			from := crypto.PubkeyToAddress(key.PublicKey)

			tx1 := signTransfer(key, 0, sink, big.NewInt(1000), nil)
			nw.nodes[2].send(tx1)
			r1 := nw.nodes[2].mustReceipt(tx1.Hash())
			for _, nd := range nw.nodes {
				r := nd.receiptWithin(tx1.Hash(), 30*time.Second)
				if r == nil {
					t.Fatalf("node %d never served the receipt node 2 served (block %d)", nd.i, r1.BlockNumber)
				}
				if r.BlockHash != r1.BlockHash || r.TransactionIndex != r1.TransactionIndex || r.Status != r1.Status {
					t.Fatalf("node %d: receipt in block %s index %d, node 2 says %s index %d", nd.i, r.BlockHash, r.TransactionIndex, r1.BlockHash, r1.TransactionIndex)
				}
			}

			// Each node's mempool accepts it; ordering must still execute it once.
			tx2 := signTransfer(key, 1, sink, big.NewInt(2000), nil)
			errs := make([]error, len(nw.nodes))
			var wg sync.WaitGroup
			for _, nd := range nw.nodes {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					errs[nd.i] = nd.eth.SendTransaction(ctx, tx2)
				})
			}
			wg.Wait()
			accepted := 0
			for i, err := range errs {
				switch {
				case err == nil:
					accepted++
				case strings.Contains(err.Error(), "already known") || strings.Contains(err.Error(), "nonce too low"):
				default:
					t.Fatalf("node %d refused the copy of %s: %v", i, tx2.Hash(), err)
				}
			}
			if accepted == 0 {
				t.Fatal("no node accepted the transaction")
			}
			nw.nodes[0].mustReceipt(tx2.Hash())
			// Once committed, a resend is refused.
			err := nw.nodes[3].eth.SendTransaction(ctxT(t, 10*time.Second), tx2)
			if err == nil || !(strings.Contains(err.Error(), "nonce too low") || strings.Contains(err.Error(), "already known")) {
				t.Fatalf("resending a committed transaction: %v, want nonce too low", err)
			}

			st := nw.assertSameChain(30 * time.Second)
			ctx := ctxT(t, time.Minute)
			for _, nd := range nw.nodes {
				seen := map[common.Hash]int{}
				for n := uint64(1); n <= st.EthBlock; n++ {
					b, err := nd.eth.BlockByNumber(ctx, new(big.Int).SetUint64(n))
					if err != nil {
						t.Fatalf("node %d block %d: %v", nd.i, n, err)
					}
					for _, tx := range b.Transactions() {
						seen[tx.Hash()]++
					}
				}
				if seen[tx1.Hash()] != 1 || seen[tx2.Hash()] != 1 {
					t.Fatalf("node %d: tx1 in %d blocks, tx2 in %d (accepted by %d nodes), want 1 each", nd.i, seen[tx1.Hash()], seen[tx2.Hash()], accepted)
				}
				if bal, err := nd.eth.BalanceAt(ctx, sink, nil); err != nil || bal.Int64() != 3000 {
					t.Fatalf("node %d: recipient balance %v (%v), want 3000", nd.i, bal, err)
				}
				if nonce, err := nd.eth.NonceAt(ctx, from, nil); err != nil || nonce != 2 {
					t.Fatalf("node %d: sender nonce %d (%v), want 2", nd.i, nonce, err)
				}
			}
			nw.stopAll()
		})
	}
}

// kill -9 of the leader while clients stream transfers to the other nodes:
// the survivors change view and keep committing, no receipt a client was
// given is lost, and the old leader rejoins as a follower.
func TestNetworkLeaderKilledUnderLoad(t *testing.T) {
	nw := newNetwork(t, 4, "bft")
	leader := nw.leader()
	survivors := nw.others(leader)
	viewBefore := survivors[0].mustStatus().View
	watch := survivors[0].watchCommits()
	l := nw.startLoad(devKeys[2:8], survivors)
	waitUntil(t, 30*time.Second, "100 receipts before the kill", func() bool { return nw.ackCount() >= 100 })

	heightAtKill := survivors[0].mustStatus().Height
	killedAt := time.Now()
	leader.kill()
	ackedAtKill := nw.ackCount()
	t.Logf("killed leader node %d (id %d) at height %d, view %d, after %d receipts", leader.i, leader.i+1, heightAtKill, viewBefore, ackedAtKill)

	// The generous bound: commits resume in a new view within 30 s.
	waitUntil(t, 30*time.Second, "a commit in a new view on every survivor", func() bool {
		for _, nd := range survivors {
			st, err := nd.status()
			if err != nil || st.View <= viewBefore || st.Height <= heightAtKill {
				return false
			}
		}
		return true
	})
	resumedAfter := time.Since(killedAt)
	waitUntil(t, 30*time.Second, "100 more receipts after the view change", func() bool { return nw.ackCount() >= ackedAtKill+100 })
	if errs := l.stop(); len(errs) > 0 {
		t.Logf("clients met %d errors during the view change (first: %s)", len(errs), errs[0])
	}
	gap, gapAt := longestGap(watch.stop(), killedAt)
	newLeader := nw.leader()
	if newLeader == leader {
		t.Fatalf("survivors still name the killed node %d as leader", leader.i)
	}
	t.Logf("new leader node %d; commits in the new view %v after the kill; longest gap between commits %v (from %v after the kill); %d receipts",
		newLeader.i, resumedAfter.Round(time.Millisecond), gap.Round(time.Millisecond), gapAt.Sub(killedAt).Round(time.Millisecond), nw.ackCount())
	nw.assertSameChain(30 * time.Second)

	// The old leader restarts as a follower and catches up.
	leader.start()
	nw.assertSameChain(60 * time.Second)
	tx := signTransfer(devKeys[9], 0, sink, big.NewInt(1), nil)
	leader.send(tx)
	leader.mustReceipt(tx.Hash())
	nw.assertSameChain(30 * time.Second)
	nw.stopAll()
}

// kill -9 of a follower: the other three keep committing; restarted over the
// same data directory it catches up to the same head on its own, then
// serves clients again.
func TestNetworkFollowerKilledAndRestartedCatchesUp(t *testing.T) {
	nw := newNetwork(t, 4, "bft")
	leader := nw.leader()
	victim := nw.others(leader)[2]
	l := nw.startLoad(devKeys[2:6], nw.nodes)
	waitUntil(t, 30*time.Second, "20 receipts with all four nodes up", func() bool { return nw.ackCount() >= 20 })
	l.stop()

	victim.kill()
	rest := nw.others(victim)
	acked := nw.ackCount()
	l = nw.startLoad(devKeys[6:9], rest)
	waitUntil(t, 30*time.Second, "50 receipts with one follower down", func() bool { return nw.ackCount() >= acked+50 })
	if errs := l.stop(); len(errs) > 0 {
		t.Fatalf("clients of the three remaining nodes met errors: %v", errs)
	}
	st := nw.assertSameChain(30 * time.Second)

	victim.start()
	restarted := victim.mustStatus().Height
	t.Logf("node %d restarted at height %d, the others are at %d", victim.i, restarted, st.Height)
	// No new traffic: the restarted node must notice by itself that it is behind.
	nw.assertSameChain(30 * time.Second)
	// What it missed came by sync, and its status says so.
	if got := victim.mustStatus().Synced; got < st.Height-restarted {
		t.Errorf("node %d reports %d synced blocks after catching up from height %d to %d", victim.i, got, restarted, st.Height)
	}
	tx := signTransfer(devKeys[9], 0, sink, big.NewInt(1), nil)
	victim.send(tx)
	victim.mustReceipt(tx.Hash())
	nw.assertSameChain(30 * time.Second)
	nw.stopAll()
}

// A node restarted exactly one block behind, in the same view, on an idle
// network catches up without new traffic. (SmartBFT's heartbeats carry the
// leader's last decided sequence, which equals a restarted one-behind
// follower's next expected sequence, so heartbeats alone do not reveal the
// lag.)
func TestNetworkNodeOneBlockBehindCatchesUpWhenIdle(t *testing.T) {
	nw := newNetwork(t, 4, "bft")
	leader := nw.leader()
	victim := nw.others(leader)[0]
	tx0 := signTransfer(devKeys[2], 0, sink, big.NewInt(1), nil)
	leader.send(tx0)
	leader.mustReceipt(tx0.Hash())
	nw.assertSameChain(30 * time.Second)

	victim.kill()
	tx1 := signTransfer(devKeys[2], 1, sink, big.NewInt(1), nil)
	leader.send(tx1)
	leader.mustReceipt(tx1.Hash())
	st := nw.settle(10 * time.Second)
	victim.start()
	if _, err := nw.trySettle(20 * time.Second); err != nil {
		// Say whether new traffic unsticks it, then report.
		tx2 := signTransfer(devKeys[2], 2, sink, big.NewInt(1), nil)
		leader.send(tx2)
		leader.mustReceipt(tx2.Hash())
		_, after := nw.trySettle(20 * time.Second)
		t.Fatalf("node %d restarted one block behind (network at height %d, view %d) does not catch up on an idle network: %v\n"+
			"after one more transaction: converged=%v %v", victim.i, st.Height, st.View, err, after == nil, after)
	}
	nw.assertSameChain(30 * time.Second)
	nw.stopAll()
}

// With two of four nodes down there is no quorum: nothing commits and the
// two survivors do not fork. One node back restores the quorum and the
// transaction that waited is committed; the last node converges too.
func TestNetworkWithoutQuorumStallsAndRecovers(t *testing.T) {
	nw := newNetwork(t, 4, "bft")
	leader := nw.leader()
	followers := nw.others(leader)
	a, b, c := followers[0], followers[1], followers[2]
	tx0 := signTransfer(devKeys[2], 0, sink, big.NewInt(1), nil)
	c.send(tx0)
	c.mustReceipt(tx0.Hash())
	nw.assertSameChain(30 * time.Second)

	a.kill()
	b.kill()
	before := nw.settle(10 * time.Second)
	pending := signTransfer(devKeys[3], 0, sink, big.NewInt(1), nil)
	c.send(pending)
	if r := c.receiptWithin(pending.Hash(), 5*time.Second); r != nil {
		t.Fatalf("committed in block %d with two of four nodes down", r.BlockNumber)
	}
	if r := leader.receiptWithin(pending.Hash(), 0); r != nil {
		t.Fatalf("leader committed block %d with two of four nodes down", r.BlockNumber)
	}
	if after := nw.settle(10 * time.Second); after.Height != before.Height {
		t.Fatalf("height moved from %d to %d without a quorum", before.Height, after.Height)
	}

	a.start()
	back := time.Now()
	r := c.receiptWithin(pending.Hash(), 60*time.Second)
	if r == nil {
		st := c.mustStatus()
		t.Fatalf("the transaction sent while there was no quorum was not committed within 60s of the quorum returning (node %d: height %d, view %d, pending %d)", c.i, st.Height, st.View, st.PendingTxs)
	}
	nw.ack(r)
	t.Logf("the waiting transaction was committed in block %d, %v after the quorum returned (view %d)", r.BlockNumber, time.Since(back).Round(time.Millisecond), c.mustStatus().View)
	nw.assertSameChain(30 * time.Second)

	b.start()
	nw.assertSameChain(60 * time.Second)
	tx := signTransfer(devKeys[3], 1, sink, big.NewInt(1), nil)
	b.send(tx)
	b.mustReceipt(tx.Hash())
	nw.assertSameChain(30 * time.Second)
	nw.stopAll()
}

// A frozen process (SIGSTOP) neither sends nor receives; its peers' messages
// are delayed or dropped. Resumed, it catches up with what it missed. A
// frozen leader is replaced and, resumed, follows the new one.
func TestNetworkPausedNodeCatchesUp(t *testing.T) {
	for _, role := range []string{"follower", "leader"} {
		t.Run(role, func(t *testing.T) {
			nw := newNetwork(t, 4, "bft")
			leader := nw.leader()
			victim := nw.others(leader)[1]
			if role == "leader" {
				victim = leader
			}
			rest := nw.others(victim)
			l := nw.startLoad(devKeys[2:8], rest)
			waitUntil(t, 30*time.Second, "20 receipts before the pause", func() bool { return nw.ackCount() >= 20 })

			pausedAt := time.Now()
			victim.pause()
			acked := nw.ackCount()
			// Long enough for heartbeats, complaints and (for a leader) a view
			// change to time out, and for many blocks to pass it by.
			waitUntil(t, 40*time.Second, "100 receipts while the node is frozen", func() bool { return nw.ackCount() >= acked+100 })
			if d := 6*time.Second - time.Since(pausedAt); d > 0 {
				time.Sleep(d)
			}
			missed := rest[0].mustStatus().Height
			victim.resume()
			t.Logf("node %d frozen for %v while the others reached height %d", victim.i, time.Since(pausedAt).Round(time.Millisecond), missed)

			acked = nw.ackCount()
			waitUntil(t, 30*time.Second, "30 receipts after the resume", func() bool { return nw.ackCount() >= acked+30 })
			if errs := l.stop(); len(errs) > 0 {
				t.Logf("clients met %d errors (first: %s)", len(errs), errs[0])
			}
			st := nw.assertSameChain(60 * time.Second)
			if role == "leader" {
				if now := nw.leader(); now == victim || st.View == 0 {
					t.Fatalf("the frozen leader was not replaced: leader node %d, view %d", now.i, st.View)
				}
			}
			// The resumed node serves clients again: what it is sent is
			// committed, and it serves the receipt.
			tx := signTransfer(devKeys[9], 0, sink, big.NewInt(1), nil)
			victim.send(tx)
			r := rest[0].receiptWithin(tx.Hash(), 30*time.Second)
			if r == nil {
				vs, _ := victim.status()
				msg := fmt.Sprintf("a transaction sent to the resumed node %d was not committed within 30s (its status: height %d, view %d, leader %d, pending %d)", victim.i, vs.Height, vs.View, vs.Leader, vs.PendingTxs)
				victim.failIfDeadlocked(msg)
				t.Fatal(msg)
			}
			nw.ack(r)
			if victim.receiptWithin(tx.Hash(), 30*time.Second) == nil {
				vs, _ := victim.status()
				msg := fmt.Sprintf("the resumed node %d does not serve, within 30s, the receipt of the transaction it was sent (committed in block %d; its status: height %d, view %d, leader %d)", victim.i, r.BlockNumber, vs.Height, vs.View, vs.Leader)
				victim.failIfDeadlocked(msg)
				t.Fatal(msg)
			}
			nw.assertSameChain(30 * time.Second)
			nw.stopAll()
		})
	}
}

// Everything on the bus is ciphertext: a marker in transactions' data never
// appears in any message on any subject, including the blocks a restarted
// node fetches from its peers, while the transactions are committed.
func TestNetworkBusCarriesNoPlaintext(t *testing.T) {
	nw := newNetwork(t, 4, "bft")
	marker := fmt.Sprintf("COCO-PLAINTEXT-MARKER-%016x", rand.Uint64())
	needles := [][]byte{
		[]byte(marker),
		[]byte(hex.EncodeToString([]byte(marker))),
		[]byte(base64.StdEncoding.EncodeToString([]byte(marker))),
	}

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", nw.busPort))
	if err != nil {
		t.Fatalf("connecting to node 0's bus: %v", err)
	}
	defer nc.Close()
	var (
		mu       sync.Mutex
		msgs     int
		bytesIn  int
		subjects = map[string]int{}
		leaks    []string
	)
	sub, err := nc.Subscribe(">", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		msgs++
		bytesIn += len(m.Data)
		subjects[subjectKind(m.Subject)]++
		for _, n := range needles {
			if bytes.Contains(m.Data, n) || bytes.Contains([]byte(m.Subject), n) {
				leaks = append(leaks, fmt.Sprintf("%s (%d bytes)", m.Subject, len(m.Data)))
			}
		}
		for _, vals := range m.Header {
			for _, v := range vals {
				if strings.Contains(v, marker) {
					leaks = append(leaks, m.Subject+" header")
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// Node 3 misses the marked blocks and fetches them over the bus later.
	// Two rounds: the blocks it fetches hold several marked transactions.
	late := nw.nodes[3]
	late.kill()
	var txs []*types.Transaction
	for round := range uint64(2) {
		for i, nd := range nw.nodes[:3] {
			tx := signTransfer(devKeys[4+i], round, sink, big.NewInt(1), []byte(marker))
			nd.send(tx)
			txs = append(txs, tx)
		}
		for i, tx := range txs[len(txs)-3:] {
			nw.nodes[i].mustReceipt(tx.Hash())
		}
	}
	late.start()
	nw.assertSameChain(30 * time.Second)
	for _, tx := range txs {
		got, _, err := late.eth.TransactionByHash(ctxT(t, 10*time.Second), tx.Hash())
		if err != nil || !bytes.Equal(got.Data(), []byte(marker)) {
			t.Fatalf("node 3 does not serve the marked transaction it fetched: %v", err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	_ = sub.Unsubscribe()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("bus carried %d messages (%d bytes): %v", msgs, bytesIn, subjects)
	if msgs == 0 || subjects["consensus"] == 0 {
		t.Fatalf("no consensus traffic seen on the bus (%d messages: %v): the check would be vacuous", msgs, subjects)
	}
	if len(leaks) > 0 {
		t.Fatalf("the plaintext marker appeared on the bus in %d messages: %v", len(leaks), leaks)
	}
	nw.stopAll()
}

// subjectKind groups subjects for the log: coco.<net>.consensus.2 → consensus.
func subjectKind(s string) string {
	parts := strings.Split(s, ".")
	switch {
	case len(parts) >= 3 && parts[0] == "coco":
		return parts[2]
	case strings.HasPrefix(s, "_INBOX."):
		return "_INBOX"
	case strings.HasPrefix(s, "$SYS."):
		return "$SYS"
	}
	return parts[0]
}

// Byzantine nodes, as separate processes: node 0 (the first leader) sends
// one follower a different proposal than the others, and node 3 adds
// garbage and envelopes forged in other nodes' names to everything it
// sends. Transactions sent to the honest nodes are committed, and every
// node holds one and the same chain.
// A leader that leaves out every batch of one member, while it goes on
// proposing the others' and sending heartbeats, is replaced: the victim
// spreads its waiting batch to every member, their complaints reach f+1,
// a view change follows and the next leader orders the batch.
func TestNetworkCensoringLeaderReplaced(t *testing.T) {
	// A shorter complaint timeout than the default (10 s) keeps the test
	// short; the mechanism is the same.
	t.Setenv("COCO_NODE_CONSENSUS_COMPLAIN_TIMEOUT", "2s")
	nw := newNetwork(t, 4, "bft", "censor") // node 0 leads view 0 and censors the highest id, node 3
	leader, victim := nw.nodes[0], nw.nodes[3]
	if nw.leader() != leader {
		t.Fatalf("node %d leads, want node 0", nw.leader().i)
	}
	viewBefore := victim.mustStatus().View

	// The censor still orders everyone else's transactions.
	tx := signTransfer(devKeys[2], 0, sink, big.NewInt(1), nil)
	nw.nodes[1].send(tx)
	nw.nodes[1].mustReceipt(tx.Hash())

	censored := signTransfer(devKeys[3], 0, sink, big.NewInt(1), nil)
	sentAt := time.Now()
	victim.send(censored)
	r := victim.receiptWithin(censored.Hash(), 60*time.Second)
	if r == nil {
		t.Fatalf("the censored transaction was not committed within 60 s; leader %d, view %d", nw.leader().i, victim.mustStatus().View)
	}
	nw.ack(r)
	took := time.Since(sentAt)
	st := victim.mustStatus()
	if st.View <= viewBefore {
		t.Fatalf("committed in view %d, the censor's view: the censor did not censor", st.View)
	}
	if nw.leader() == leader {
		t.Fatalf("the censoring node %d still leads", leader.i)
	}
	t.Logf("censored transaction committed %v after it was sent, in view %d (leader node %d)", took.Round(time.Millisecond), st.View, nw.leader().i)

	// The network goes on under the new leader, the censor included as a follower.
	tx = signTransfer(devKeys[2], 1, sink, big.NewInt(1), nil)
	victim.send(tx)
	victim.mustReceipt(tx.Hash())
	nw.assertSameChain(30 * time.Second)
	nw.stopAll()
}

func TestNetworkByzantineNodesDoNotBreakConsistency(t *testing.T) {
	nw := newNetwork(t, 4, "bft", "equivocate", "", "", "garbage")
	honest := []*netNode{nw.nodes[1], nw.nodes[2]}
	l := nw.startLoad(devKeys[3:7], honest)
	deadline := time.Now().Add(60 * time.Second)
	for nw.ackCount() < 100 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if errs := l.stop(); len(errs) > 0 {
		t.Fatalf("clients of the honest nodes met errors: %v", errs)
	}
	if nw.ackCount() < 100 {
		t.Fatalf("only %d receipts in 60 s with byzantine nodes", nw.ackCount())
	}
	st := nw.assertSameChain(60 * time.Second)
	t.Logf("with an equivocating leader and a garbage-sending node: %d receipts, %d blocks, view %d", nw.ackCount(), st.Height, st.View)
	nw.stopAll()
}
