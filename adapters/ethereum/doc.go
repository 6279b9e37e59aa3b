// Package ethereum assembles the Ethereum adapter for one node: the chain
// application over the node's encrypted state (chain, kv), the JSON-RPC
// server (jsonrpc) and, in dev mode, the funded development accounts
// (devkeys). Its subpackages hold the logic; this package only wires them.
//
// It must not reach into the core beyond the node's public API, and no other
// adapter may import it.
package ethereum
