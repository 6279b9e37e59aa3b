// Package state owns the node's one Pebble database and the encrypted,
// namespaced key-value stores the core and the adapters keep their state in.
//
// # Key layout
//
// Every byte that reaches Pebble has one of these key prefixes:
//
//	"n/<namespace>/"  a Store (this package): value = AES-256-GCM ciphertext
//	"m/"              this package's metadata (the at-rest key check)
//	"l/"              the ledger (core/ledger), plaintext public data, written
//	                  through DB.Pebble
//
// Any other user of DB.Pebble must claim a new prefix here first.
//
// # Encryption
//
// Each namespace encrypts its values with its own AES-256-GCM key, derived by
// HKDF-SHA256 from the database key (Options.Key, itself derived from the
// sealed node secret) and the namespace name. A stored value is
//
//	0x01 | 12-byte random nonce | ciphertext | 16-byte tag
//
// and the full Pebble key is the GCM additional data, so a value moved to
// another key or namespace fails to decrypt (ErrCorrupt), as does any flipped
// bit.
//
// Keys are stored in plaintext so that Pebble can order and range-scan them:
// a key must never carry a secret (Ethereum keys are hashes; Fabric keys are
// chosen by chaincode and must be treated accordingly). Encryption protects
// each value and binds it to its key; it does not detect a value rolled back
// to an older ciphertext of the same key, nor deleted keys: the state roots
// recorded in the ledger are what catch those.
//
// Random 96-bit nonces bound how much one namespace key may safely encrypt
// (NIST SP 800-38D: about 2^32 values for a collision chance below 2^-32).
// The leading format byte leaves room for key epochs when that is needed.
//
// # Durability
//
// Store writes and Batch.Commit(false) return once the write is in Pebble's
// write-ahead log buffer; they survive a process crash only once synced.
// Store.Sync, DB.Sync and Batch.Commit(true) fsync the shared log, which also
// makes every earlier write of any namespace (and the ledger's) durable.
//
// # Snapshots
//
// DB.NewSnapshot is a consistent view of every namespace; its Read returns
// plaintext, for state transfer to a peer (sealed with the ledger secret on
// the way, stored under the peer's own at-rest key).
//
// This package must not interpret values, know about any protocol, or keep
// keys other than the ones handed to it in Options.
package state
