// Copyright IBM Corp. All Rights Reserved.
//
// SPDX-License-Identifier: Apache-2.0
//

package bft

import (
	"sync"
	"time"
)

// BatchBuilder implements Batcher
type BatchBuilder struct {
	pool          RequestPool
	submittedChan chan struct{}
	maxMsgCount   int
	maxSizeBytes  uint64
	batchTimeout  time.Duration
	last          time.Time // when the previous non-empty batch was returned
	closeChan     chan struct{}
	closeLock     sync.Mutex // Reset and Close may be called by different threads
}

// NewBatchBuilder creates a new BatchBuilder
func NewBatchBuilder(pool RequestPool, submittedChan chan struct{}, maxMsgCount uint64, maxSizeBytes uint64, batchTimeout time.Duration) *BatchBuilder {
	b := &BatchBuilder{
		pool:          pool,
		submittedChan: submittedChan,
		maxMsgCount:   int(maxMsgCount),
		maxSizeBytes:  maxSizeBytes,
		batchTimeout:  batchTimeout,
		closeChan:     make(chan struct{}),
	}
	return b
}

// NextBatch returns the next batch of requests to be proposed.
// The method returns as soon as the batch is full, in terms of request count or total size, or after a timeout.
// The method may block.
//
// Coco: the timeout is the least time between two batches, counted from the
// previous batch, rather than a wait that starts anew whenever the leader
// asks. A leader whose previous block took longer than that to decide and
// deliver proposes what is pending at once; a lightly loaded one waits, and
// makes fewer, larger blocks. A full batch goes at once either way.
func (b *BatchBuilder) NextBatch() [][]byte {
	if batch, ready := b.ready(); ready {
		return b.cut(batch)
	}
	wait := b.batchTimeout - time.Since(b.last)
	if wait <= 0 {
		// Nothing pending: wait for a request, but return now and then so
		// the leader can notice other events.
		wait = b.batchTimeout
	}
	timeout := time.After(wait)
	for {
		select {
		case <-b.closeChan:
			return nil
		case <-timeout:
			batch, _ := b.pool.NextRequests(b.maxMsgCount, b.maxSizeBytes, false)
			return b.cut(batch)
		case <-b.submittedChan:
			if batch, ready := b.ready(); ready {
				return b.cut(batch)
			}
		}
	}
}

// ready returns the pending requests and whether they should be proposed
// now: they fill a batch, or the previous batch is at least a timeout old.
func (b *BatchBuilder) ready() ([][]byte, bool) {
	batch, full := b.pool.NextRequests(b.maxMsgCount, b.maxSizeBytes, false)
	return batch, full || (len(batch) > 0 && time.Since(b.last) >= b.batchTimeout)
}

func (b *BatchBuilder) cut(batch [][]byte) [][]byte {
	if len(batch) > 0 {
		b.last = time.Now()
	}
	return batch
}

// Close closes the close channel to stop NextBatch
func (b *BatchBuilder) Close() {
	b.closeLock.Lock()
	defer b.closeLock.Unlock()
	select {
	case <-b.closeChan:
		return
	default:
	}
	close(b.closeChan)
}

// Closed returns true if the batcher is closed
func (b *BatchBuilder) Closed() bool {
	select {
	case <-b.closeChan:
		return true
	default:
		return false
	}
}

// Reset reopens the close channel to allow calling NextBatch
func (b *BatchBuilder) Reset() {
	b.closeLock.Lock()
	defer b.closeLock.Unlock()
	b.closeChan = make(chan struct{})
}
