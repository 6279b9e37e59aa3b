//go:build byzantine

package main

import (
	"crypto/ed25519"
	"log/slog"
	"os"

	"github.com/cocoledger/coco/core/consensus"
)

// A fault-injection build: COCO_BYZANTINE=garbage|equivocate|censor makes this node
// misbehave on the bus. Release builds do not contain this file.
func init() {
	faultInjection = func(log *slog.Logger) (func(consensus.Transport, ed25519.PrivateKey, uint64, []uint64) (consensus.Transport, error), error) {
		mode := os.Getenv("COCO_BYZANTINE")
		if mode == "" {
			return nil, nil
		}
		log.Warn("BYZANTINE node: misbehaving on purpose for a fault test", "mode", mode)
		return func(t consensus.Transport, key ed25519.PrivateKey, self uint64, peers []uint64) (consensus.Transport, error) {
			return consensus.NewByzantineTransport(t, mode, key, self, peers)
		}, nil
	}
}
