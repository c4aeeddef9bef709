package kinesisio

import (
	"context"
	"sync"
)

// budget bounds what readers may hold in memory: records read and not yet
// covered by their shard's watermark (so not yet checkpointable), and bytes
// read and not yet acknowledged. A reader reserves record slots before each GetRecords (so
// the record count is exact) and waits while bytes are over the bound (so
// bytes exceed it by at most one reply per reader).
type budget struct {
	mu                  sync.Mutex
	records, bytes      int64
	maxRecords, maxByte int64
	minGrant            int64
	wake                chan struct{}
}

func newBudget(maxRecords, maxBytes int64) *budget {
	return &budget{maxRecords: maxRecords, maxByte: maxBytes, minGrant: max(1, maxRecords/8), wake: make(chan struct{})}
}

// acquire waits until at least min(want, maxRecords/8) record slots are
// free and bytes are under the bound, then reserves up to want slots.
func (b *budget) acquire(ctx context.Context, want int64) (int64, error) {
	for {
		b.mu.Lock()
		free := b.maxRecords - b.records
		if free >= min(want, b.minGrant) && b.bytes < b.maxByte {
			g := min(want, free)
			b.records += g
			b.mu.Unlock()
			return g, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// settle returns the unused part of a grant and charges the bytes read.
func (b *budget) settle(granted, used, bytes int64) {
	b.mu.Lock()
	b.records -= granted - used
	b.bytes += bytes
	b.broadcastLocked()
	b.mu.Unlock()
}

// release frees record slots the watermark passed (or dropped records) and
// the bytes of acknowledged ones.
func (b *budget) release(records, bytes int64) {
	b.mu.Lock()
	b.records -= records
	b.bytes -= bytes
	b.broadcastLocked()
	b.mu.Unlock()
}

func (b *budget) broadcastLocked() {
	close(b.wake)
	b.wake = make(chan struct{})
}

func (b *budget) used() (records, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records, b.bytes
}
