// Package loadgen measures a node's real transaction throughput and
// submit-to-commit latency through its public Ethereum JSON-RPC, the engine
// behind `coco bench eth`.
//
// It owns the whole measurement: funding fresh sender accounts from a dev
// key, pre-signing every transfer before the clock starts, sending them with
// eth_sendRawTransaction (batched, over HTTP or WebSocket, at a fixed rate or
// a fixed number of uncommitted transactions), detecting commits from
// newHeads, and summarising the result. When the nodes serve Prometheus'
// process_cpu_seconds_total on /metrics beside their RPC port (Coco nodes
// do), it also reports their CPU time per committed transaction, and always
// its own CPU use, since it usually shares the machine with them.
//
// It must use only what any Ethereum client can use (go-ethereum's rpc and
// ethclient against the URLs it is given, plus the optional /metrics); it
// must not reach into a node's internals, so the same run works against
// Coco, geth or any other node.
package loadgen
