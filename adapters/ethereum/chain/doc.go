// Package chain is the Ethereum application of a Coco node: one decided Coco
// block becomes one Ethereum block, executed with go-ethereum's EVM and state
// and stored in go-ethereum's own database schema (rawdb), so blocks,
// receipts, hashes and blooms are real and every client library decodes them.
//
// It owns the Ethereum chain data (genesis, blocks, receipts, transaction
// index, world state) in the ethdb it is given, and the ingress checks and
// local pending pool for transactions sent through this node.
//
// State is kept as a current go-ethereum full node keeps it, with the path
// scheme: the latest blocks' changes stay in memory layers and a write
// buffer that is written to disk in the background, and on Close as a
// journal (see persist.go). After a crash the chain reopens at the newest
// block whose state reached the disk, and the node executes the later blocks
// again from its ledger, which is the durable record.
//
// It must not order transactions (Coco does, through the Submitter), recover
// signatures at execution time when the ingress already did, nor serve
// JSON-RPC (package jsonrpc does, through the Backend methods of *Chain).
package chain
