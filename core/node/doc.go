// Package node wires one Coco node together and runs its lifecycle: the
// node's sealed identity and secrets, the state database, the ledger with its
// genesis block, recovery by replaying the ledger into the applications,
// the batcher and consensus, and a clean stop.
//
// It owns the order of start-up and shut-down and the commit path of a
// decided block (ledger first, then execution). It must not know any
// protocol: applications (adapters) register with it through App.
package node
