// Package enclave is the TEE boundary: the interfaces every enclave
// implementation provides (attestation evidence, its verification, sealing)
// and the key derivation the core uses on top of them.
//
// It owns no keys of its own and must not import the core or any adapter.
// Implementations live in enclave/virtual (software, development only) and
// enclave/sgx (EGo, built with the `enclave` tag).
package enclave
