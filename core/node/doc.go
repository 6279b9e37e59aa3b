// Package node wires one Coco node together and runs its lifecycle: the
// node's sealed identity and ledger secrets, the state database, the ledger
// with its genesis block, governance (the first application), replaying the
// ledger into the applications (checking each block's state roots against
// the next signed header), the batcher and consensus, and a clean stop. It
// also runs the node's part of membership: joining an existing network
// (join.go), handing the ledger secret to nodes governance trusts and
// installing rotated generations (secrets.go), catching up from a peer's
// snapshot (snapshot.go), restoring a lost network from a ledger copy and
// the members' recovery shares (recover.go), and the offline governance
// audit (audit.go).
//
// It owns the order of start-up and shut-down and the commit path of a
// decided block (ledger first, then execution). It must not know any
// protocol: applications (adapters) register with it through App.
package node
