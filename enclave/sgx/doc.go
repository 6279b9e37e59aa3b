// Package sgx is the hardware enclave: Intel SGX through EGo. It is compiled
// only with the `enclave` build tag, by EGo's toolchain (`ego-go build
// -tags enclave`), and signed into an enclave image; every other build uses
// enclave/virtual.
//
// It must refuse to run outside a real enclave: there EGo's seal key is
// sixteen zero bytes and reports fail, and sealing with such a key would
// look like protection while being none.
package sgx
