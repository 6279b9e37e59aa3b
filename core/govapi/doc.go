// Package govapi serves governance over HTTP on every node, under /gov/,
// and is the client the `coco gov` commands use. Members script against
// the same endpoints: every write is a signed request (gov.Signed) that the
// node checks before ordering it and every replica checks again when it
// executes it.
//
// It owns request routing, the pre-checks that spare the ledger obviously
// bad requests, and waiting for a request's outcome. It must not change
// governance state itself: only ordered execution (core/gov) does.
package govapi
