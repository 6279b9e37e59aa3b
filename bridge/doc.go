// Package bridge is the NATS bus between nodes (and, later, between nodes
// and frontends): an embedded or external NATS server, the subject layout,
// and signed envelopes.
//
// NATS is untrusted transport. Every message is signed by its sender's node
// key and checked before anything reads it; delivery is at-most-once, so
// callers must tolerate loss, duplication and reordering. The bridge never
// decides what a message means: it only moves and authenticates bytes.
package bridge
