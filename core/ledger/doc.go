// Package ledger owns the append-only ledger of decided blocks, the Merkle
// history tree over every transaction, and receipts that can be checked
// offline.
//
// It stores under the "l/" key prefix of the node's Pebble database and
// touches no other key. A block is appended with its tree nodes and indices
// in one fsynced write, so after a crash the ledger holds whole blocks only.
// The history tree follows RFC 9162 (leaf = SHA-256(0x00‖tx hash), node =
// SHA-256(0x01‖left‖right)); each header's HistoryRoot is what the nodes
// that decided the block signed, so a receipt is a leaf, its path and a
// signed header.
//
// A node that caught up from a peer's state snapshot holds a ledger reset
// to the snapshot block (ResetTo, Base): genesis, that block with the
// history tree's right edge, and the blocks after it; older blocks and
// receipts read as ErrNotFound.
//
// It must not decrypt batches, execute transactions or verify consensus:
// Append trusts its caller for the leaves of a block and for the block
// having been decided; only VerifyReceipt checks signatures.
package ledger
