// Package jsonrpc serves the Ethereum JSON-RPC API (eth, net, web3 and, with
// development keys, personal) over HTTP and WebSocket on one port, on top of
// go-ethereum's rpc server.
//
// It owns request decoding, block-tag resolution, the JSON shapes of blocks,
// transactions and receipts, eth_call/eth_estimateGas simulation, fee
// suggestions, log queries, polling filters and WebSocket subscriptions.
// Shapes and error codes follow go-ethereum v1.17.10 (internal/ethapi and
// eth/filters), because client libraries parse them.
//
// It must not change chain state: every simulation runs on a throw-away
// state, and transactions only leave through Backend.SendTransaction, which
// owns the ingress checks. It knows nothing of consensus or of the node
// beyond the Backend interface.
package jsonrpc
