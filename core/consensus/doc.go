// Package consensus glues the core to SmartBFT: it assembles proposals from
// sealed batches, verifies proposals, requests and consenter signatures,
// signs with the node key, moves consensus messages over the bus, answers
// the Synchronizer (block by block, or a sealed state snapshot for a node
// far behind), follows changes of the consensus set (Membership: SmartBFT
// reconfigured, a node outside the set follows the chain until it is in),
// and delivers decided blocks to the node.
//
// It owns the SmartBFT instance, its WAL (DataDir/wal) and
// DataDir/head-version.json (see headversion.go). It must not execute
// transactions or write the ledger itself: it hands decided blocks to the
// Chain it was given, and it never sees a transaction in plaintext outside
// the enclave's memory.
package consensus
