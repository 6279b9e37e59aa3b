// Package types holds the core's data model: transactions, batches, block
// headers and blocks, and their canonical encoding and hashes.
//
// It owns nothing stateful and must not know about any protocol adapter: a
// transaction's payload is opaque bytes interpreted only by the application
// registered for its namespace.
package types
