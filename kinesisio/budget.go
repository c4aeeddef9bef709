package kinesisio

import (
	"context"
	"sync"
)

// budget bounds what readers may hold in memory:
//   - records read and not yet acknowledged (their data is in memory), and
//     their bytes;
//   - records read and not yet checkpointable: acknowledged or not, some
//     earlier record of their shard is not, so the watermark keeps a slot
//     for each and a restart would replay them. A row that falls behind in
//     strict order holds the checkpoint back while later records of other
//     rows are acknowledged; without this bound reading would go on and
//     the watermark grow without limit.
//
// A reader reserves record slots before each GetRecords (so the record
// counts are exact) and waits while bytes are over the bound (so bytes
// exceed it by at most one reply per reader).
type budget struct {
	mu                  sync.Mutex
	records, bytes      int64
	uncommitted         int64
	maxRecords, maxByte int64
	maxUncommitted      int64
	minGrant            int64
	wake                chan struct{}
}

func newBudget(maxRecords, maxBytes, maxUncommitted int64) *budget {
	return &budget{maxRecords: maxRecords, maxByte: maxBytes, maxUncommitted: max(maxUncommitted, maxRecords),
		minGrant: max(1, maxRecords/8), wake: make(chan struct{})}
}

// acquire waits until at least min(want, maxRecords/8) record slots are
// free under both record bounds and bytes are under theirs, then reserves
// up to want slots.
func (b *budget) acquire(ctx context.Context, want int64) (int64, error) {
	for {
		b.mu.Lock()
		free := min(b.maxRecords-b.records, b.maxUncommitted-b.uncommitted)
		if free >= min(want, b.minGrant) && b.bytes < b.maxByte {
			g := min(want, free)
			b.records += g
			b.uncommitted += g
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
	b.uncommitted -= granted - used
	b.bytes += bytes
	b.broadcastLocked()
	b.mu.Unlock()
}

// ack frees acknowledged records and their bytes, and commit the slots of
// records the watermark passed; either may be zero.
func (b *budget) ack(records, bytes, committed int64) {
	b.mu.Lock()
	b.records -= records
	b.bytes -= bytes
	b.uncommitted -= committed
	b.broadcastLocked()
	b.mu.Unlock()
}

// release frees records dropped unread by the relay (never added to a
// watermark).
func (b *budget) release(records, bytes int64) { b.ack(records, bytes, records) }

func (b *budget) broadcastLocked() {
	close(b.wake)
	b.wake = make(chan struct{})
}

func (b *budget) used() (records, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records, b.bytes
}
