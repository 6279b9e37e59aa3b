package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cocoledger/coco/core/durable"
)

// A block that changes the consensus set is decided under the set's former
// version, and SmartBFT's view change compares the head decision of every
// node, verification sequence included. Blocks do not record that version
// and governance only knows the current one, so after a restart a node
// whose head changed the set would present it with the new version and
// disagree with the nodes that delivered it. The version is therefore kept
// in a small file when such a block is committed, and read back at start.
const headVersionFile = "head-version.json"

type headVersionRecord struct {
	Block   uint64 `json:"block"`
	Version uint64 `json:"version"`
}

// recordHeadVersion keeps the version the head block, number, was decided
// under, once that block has changed the set.
func (c *Consensus) recordHeadVersion(number, version uint64) {
	if c.opts.DataDir == "" {
		return
	}
	data, err := json.Marshal(headVersionRecord{Block: number, Version: version})
	if err == nil {
		err = durable.WriteFile(filepath.Join(c.opts.DataDir, headVersionFile), data)
	}
	if err != nil {
		// Not fatal: the version is only needed if this node restarts with
		// this block as its head and a view change follows at once.
		c.log.Warn("cannot record the verification sequence of a block that changed the consensus set", "block", number, "err", err)
	}
}

// restoreHead sets headVersion from the record, if it is the head's.
func (c *Consensus) restoreHead(head uint64) error {
	data, err := os.ReadFile(filepath.Join(c.opts.DataDir, headVersionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consensus: read %s: %w", headVersionFile, err)
	}
	var r headVersionRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("consensus: %s: %w", headVersionFile, err)
	}
	if r.Block == head {
		c.headVersion.Store(r.Version + 1)
	}
	return nil
}
