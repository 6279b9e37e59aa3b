// Package durable writes small files (identities, sealed secrets, genesis,
// markers, records) so that after a crash a reader finds either the old
// content or the new, never a torn mix, and so that a write that returned
// survives power loss.
//
// It must not be used for data that has its own log (ledger blocks, state):
// those go through Pebble.
package durable
