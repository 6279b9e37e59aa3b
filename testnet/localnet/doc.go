// Package localnet lays out a local N-node network on one machine: a node
// identity per data directory, the genesis document, and one configuration
// file per node with its loopback ports and NATS routes. `coco testnet init`
// and the testnet/ scripts use it.
//
// It only writes files; it never starts or talks to a node.
package localnet
