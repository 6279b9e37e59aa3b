package jsonrpc

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// bumpFrom sends a counter bump from key i and returns the transaction.
func (e *env) bumpFrom(i int, counter common.Address) *types.Transaction {
	return e.send(i, &counter, nil, nil, 100_000)
}

func TestGetLogs(t *testing.T) {
	e := newEnv(t)
	counter := e.deploy(counterCode()) // block 1
	e.bumpFrom(0, counter)
	e.bumpFrom(1, counter)
	b2 := e.mine() // block 2: two logs
	e.mine()       // block 3: none
	e.bumpFrom(1, counter)
	e.mine() // block 4: one log

	byAddr1 := common.BytesToHash(e.addrs[1].Bytes())
	for _, tc := range []struct {
		name string
		q    ethereum.FilterQuery
		want int
	}{
		{"all", ethereum.FilterQuery{FromBlock: big.NewInt(0)}, 3},
		{"address", ethereum.FilterQuery{FromBlock: big.NewInt(0), Addresses: []common.Address{counter}}, 3},
		{"other address", ethereum.FilterQuery{FromBlock: big.NewInt(0), Addresses: []common.Address{{1}}}, 0},
		{"topic0", ethereum.FilterQuery{FromBlock: big.NewInt(0), Topics: [][]common.Hash{{bumpedTopic}}}, 3},
		{"topic1", ethereum.FilterQuery{FromBlock: big.NewInt(0), Topics: [][]common.Hash{nil, {byAddr1}}}, 2},
		{"topic1 or", ethereum.FilterQuery{FromBlock: big.NewInt(0), Topics: [][]common.Hash{nil, {byAddr1, common.BytesToHash(e.addrs[0].Bytes())}}}, 3},
		{"range", ethereum.FilterQuery{FromBlock: big.NewInt(3), ToBlock: big.NewInt(4)}, 1},
		{"block hash", ethereum.FilterQuery{BlockHash: ptr(b2.Hash())}, 2},
		{"more topics than logged", ethereum.FilterQuery{FromBlock: big.NewInt(0), Topics: [][]common.Hash{{bumpedTopic}, {byAddr1}, {{3}}}}, 0},
	} {
		logs, err := e.eth.FilterLogs(ctx(t), tc.q)
		if err != nil || len(logs) != tc.want {
			t.Errorf("%s: %d logs, %v; want %d", tc.name, len(logs), err, tc.want)
		}
	}
	logs, _ := e.eth.FilterLogs(ctx(t), ethereum.FilterQuery{BlockHash: ptr(b2.Hash())})
	if l := logs[1]; l.BlockHash != b2.Hash() || l.BlockNumber != 2 || l.Index != 1 || l.TxIndex != 1 || l.Address != counter || l.TxHash == (common.Hash{}) {
		t.Errorf("log fields %+v", l)
	}
	// Without a range: the latest block.
	var raw []types.Log
	e.mustCall(&raw, "eth_getLogs", map[string]any{})
	if len(raw) != 1 || raw[0].BlockNumber != 4 {
		t.Errorf("default range: %d logs", len(raw))
	}
	// A null inside an OR-array matches anything (go-ethereum's rule).
	e.mustCall(&raw, "eth_getLogs", map[string]any{"fromBlock": "earliest", "topics": []any{nil, []any{byAddr1, nil}}})
	if len(raw) != 3 {
		t.Errorf("null in OR-array: %d logs; want 3", len(raw))
	}
	e.mustCall(&raw, "eth_getLogs", map[string]any{"fromBlock": "0x0", "address": []common.Address{counter}})
	if len(raw) != 3 {
		t.Errorf("address array: %d logs", len(raw))
	}

	for _, tc := range []struct {
		crit map[string]any
		code int
		msg  string
	}{
		{map[string]any{"fromBlock": "0x3", "toBlock": "0x2"}, -32602, "invalid block range params"},
		{map[string]any{"fromBlock": "0x1", "toBlock": "0x99"}, -32602, "block range extends beyond current head block"},
		{map[string]any{"blockHash": common.Hash{9}}, -32000, "unknown block"},
		{map[string]any{"topics": []any{nil, nil, nil, nil, nil}}, -32602, "invalid argument 0: exceed max topics"},
		{map[string]any{"address": make([]common.Address, 1001)}, -32000, "exceed max addresses or topics per search position"},
	} {
		err := e.call(&raw, "eth_getLogs", tc.crit)
		if code, msg, _ := rpcErr(t, err); code != tc.code || !startsWith(msg, tc.msg) {
			t.Errorf("%v: %d %q; want %d %q", tc.crit, code, msg, tc.code, tc.msg)
		}
	}
}

func TestGetLogsRangeLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxLogsRange = 2 })
	for range 4 {
		e.mine()
	}
	if _, err := e.eth.FilterLogs(ctx(t), ethereum.FilterQuery{FromBlock: big.NewInt(2), ToBlock: big.NewInt(4)}); err != nil {
		t.Fatalf("range of 2: %v", err)
	}
	_, err := e.eth.FilterLogs(ctx(t), ethereum.FilterQuery{FromBlock: big.NewInt(0)})
	if code, msg, _ := rpcErr(t, err); code != -32602 || msg != "exceed maximum block range 2" {
		t.Fatalf("range of 4: %d %q", code, msg)
	}
}

func TestFilters(t *testing.T) {
	e := newEnv(t)
	counter := e.deploy(counterCode())

	var logsID, blocksID, pendingID, fullID rpc.ID
	e.mustCall(&logsID, "eth_newFilter", map[string]any{
		"address": counter, "topics": []any{bumpedTopic, common.BytesToHash(e.addrs[1].Bytes())},
	})
	e.mustCall(&blocksID, "eth_newBlockFilter")
	e.mustCall(&pendingID, "eth_newPendingTransactionFilter")
	e.mustCall(&fullID, "eth_newPendingTransactionFilter", true)

	e.bumpFrom(0, counter)
	tx1 := e.bumpFrom(1, counter)
	block := e.mine()

	var hashes []common.Hash
	eventually(t, "block filter sees the block", func() bool {
		var got []common.Hash
		e.mustCall(&got, "eth_getFilterChanges", blocksID)
		hashes = append(hashes, got...)
		return len(hashes) > 0
	})
	if len(hashes) != 1 || hashes[0] != block.Hash() {
		t.Fatalf("block filter changes %v; want [%s]", hashes, block.Hash())
	}
	var logs []types.Log
	eventually(t, "log filter sees the log", func() bool {
		var got []types.Log
		e.mustCall(&got, "eth_getFilterChanges", logsID)
		logs = append(logs, got...)
		return len(logs) > 0
	})
	if len(logs) != 1 || logs[0].TxHash != tx1.Hash() {
		t.Fatalf("log filter changes %+v; want the bump of account 1", logs)
	}
	var txHashes []common.Hash
	eventually(t, "pending filter sees both transactions", func() bool {
		var got []common.Hash
		e.mustCall(&got, "eth_getFilterChanges", pendingID)
		txHashes = append(txHashes, got...)
		return len(txHashes) >= 2
	})
	if len(txHashes) != 2 || txHashes[1] != tx1.Hash() {
		t.Fatalf("pending filter %v", txHashes)
	}
	var full []map[string]any
	e.mustCall(&full, "eth_getFilterChanges", fullID)
	if len(full) != 2 || full[1]["hash"] != tx1.Hash().Hex() || !strings.EqualFold(full[1]["from"].(string), e.addrs[1].Hex()) {
		t.Fatalf("full pending filter %v", full)
	}
	// Polled changes are gone; the stored logs stay queryable.
	var again []common.Hash
	e.mustCall(&again, "eth_getFilterChanges", blocksID)
	if len(again) != 0 {
		t.Fatalf("changes returned twice: %v", again)
	}
	e.mustCall(&logs, "eth_getFilterLogs", logsID)
	if len(logs) != 1 {
		t.Fatalf("filter logs %d", len(logs))
	}

	var byHash rpc.ID
	e.mustCall(&byHash, "eth_newFilter", map[string]any{"blockHash": block.Hash()})
	e.mustCall(&logs, "eth_getFilterLogs", byHash)
	if len(logs) != 2 || logs[0].BlockHash != block.Hash() {
		t.Fatalf("logs of a blockHash filter: %+v", logs)
	}

	var ok bool
	e.mustCall(&ok, "eth_uninstallFilter", blocksID)
	if !ok {
		t.Fatal("uninstall answered false")
	}
	e.mustCall(&ok, "eth_uninstallFilter", blocksID)
	if ok {
		t.Fatal("second uninstall answered true")
	}
	err := e.call(&again, "eth_getFilterChanges", blocksID)
	if code, msg, _ := rpcErr(t, err); code != -32000 || msg != "filter not found" {
		t.Fatalf("uninstalled filter: %d %q", code, msg)
	}
	err = e.call(&logs, "eth_getFilterLogs", pendingID)
	if _, msg, _ := rpcErr(t, err); msg != "filter not found" {
		t.Fatalf("eth_getFilterLogs on a pending filter: %q", msg)
	}
	err = e.call(&logsID, "eth_newFilter", map[string]any{"fromBlock": "0x5", "toBlock": "0x2"})
	if _, msg, _ := rpcErr(t, err); msg != "invalid block range params" {
		t.Fatalf("bad filter range: %q", msg)
	}
}

func TestFilterExpiry(t *testing.T) {
	fs := newFilterStore(time.Minute)
	polled := fs.install(&filter{kind: blocksFilter})
	idle := fs.install(&filter{kind: blocksFilter})
	now := time.Now()
	fs.m[idle].lastPoll = now.Add(-2 * time.Minute)
	if n := fs.expire(now); n != 1 {
		t.Fatalf("expired %d filters; want 1", n)
	}
	if _, ok := fs.take(idle); ok {
		t.Fatal("idle filter survived")
	}
	if _, ok := fs.take(polled); !ok {
		t.Fatal("recently polled filter expired")
	}
}

func TestSubscriptions(t *testing.T) {
	e := newEnv(t)
	counter := e.deploy(counterCode())
	ws := e.ws()
	wsEth := ethclient.NewClient(ws)

	heads := make(chan *types.Header, 8)
	headSub, err := wsEth.SubscribeNewHead(ctx(t), heads)
	if err != nil {
		t.Fatalf("newHeads: %v", err)
	}
	defer headSub.Unsubscribe()
	logs := make(chan types.Log, 8)
	logSub, err := wsEth.SubscribeFilterLogs(ctx(t), ethereum.FilterQuery{
		Addresses: []common.Address{counter},
		Topics:    [][]common.Hash{{bumpedTopic}, {common.BytesToHash(e.addrs[1].Bytes())}},
	}, logs)
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer logSub.Unsubscribe()
	hashes := make(chan common.Hash, 8)
	hashSub, err := ws.EthSubscribe(ctx(t), hashes, "newPendingTransactions")
	if err != nil {
		t.Fatalf("newPendingTransactions: %v", err)
	}
	defer hashSub.Unsubscribe()
	fulls := make(chan map[string]any, 8)
	fullSub, err := ws.EthSubscribe(ctx(t), fulls, "newPendingTransactions", true)
	if err != nil {
		t.Fatalf("newPendingTransactions full: %v", err)
	}
	defer fullSub.Unsubscribe()

	e.bumpFrom(0, counter)
	tx1 := e.bumpFrom(1, counter)
	block := e.mine()

	h := recv(t, heads, "new head")
	if h.Hash() != block.Hash() {
		t.Fatalf("head %s; want %s", h.Hash(), block.Hash())
	}
	l := recv(t, logs, "log")
	if l.TxHash != tx1.Hash() || l.BlockHash != block.Hash() {
		t.Fatalf("log %+v; want the bump of account 1", l)
	}
	if first := recv(t, hashes, "pending hash"); first == tx1.Hash() {
		t.Fatalf("pending hashes out of order")
	}
	if second := recv(t, hashes, "pending hash"); second != tx1.Hash() {
		t.Fatalf("second pending hash %s; want %s", second, tx1.Hash())
	}
	recv(t, fulls, "full pending tx")
	if full := recv(t, fulls, "full pending tx"); full["hash"] != tx1.Hash().Hex() || full["blockHash"] != nil {
		t.Fatalf("full pending tx %v", full)
	}
	select {
	case extra := <-logs:
		t.Fatalf("log of another sender delivered: %+v", extra)
	default:
	}

	// Subscriptions need WebSocket.
	_, err = e.rpc.EthSubscribe(ctx(t), make(chan any), "newHeads")
	if err == nil {
		t.Fatal("subscription over HTTP accepted")
	}
	_, err = ws.EthSubscribe(ctx(t), make(chan any), "bogus")
	if code, msg, _ := rpcErr(t, err); code != -32601 || msg != `no "bogus" subscription in eth namespace` {
		t.Fatalf("unknown subscription: %d %q", code, msg)
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s delivered", what)
		panic("unreachable")
	}
}

func ptr[T any](v T) *T { return &v }
