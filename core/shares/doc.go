// Package shares splits a secret into k-of-n recovery shares and encrypts
// each share to one recovery member.
//
// When every node of a network is lost but the ledgers survive, members
// restore it: k of them decrypt their shares and hand them to a recovering
// node, which combines them back into the secret (the ledger-secret wrapping
// key) and checks the result against a commitment recorded at split time.
//
// It owns Shamir secret sharing over GF(2^8) (the AES field, polynomial
// 0x11b, byte by byte, constant-time arithmetic), the share's binary
// encoding, the commitment to a secret, and HPKE encryption of a share
// (DHKEM(X25519), HKDF-SHA256, AES-256-GCM; RFC 9180).
//
// It must not store keys or shares, perform I/O, or log: shares and secrets
// never leave it except as return values, and Share redacts its value when
// formatted or logged. Choosing k and n, and which members receive shares,
// belongs to governance (the constitution); wiring belongs to the node.
package shares
