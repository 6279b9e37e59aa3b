// Package virtual is a software enclave for development and tests. It has
// no hardware protection: its sealing key sits in a file next to the data,
// its "attestation" is a software signature, and its measurement is the hash
// of the running binary. Everything it creates says so loudly.
//
// It must never be the only protection of real data; production nodes run
// enclave/sgx.
package virtual
