package faultproxy

import (
	"sync"
	"time"
)

// AWS's per-shard limits (kinesis.md §1, §2).
const (
	writeRecordsPerSec = 1000
	writeBytesPerSec   = 1 << 20
	readCallsPerSec    = 5
	readBytesPerSec    = 2 << 20
)

// bucket is a token bucket that refills at rate per second up to burst.
// tokens may go negative (debt) when charged after the fact.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if b.last.IsZero() {
		b.tokens, b.last = burst, now
		return
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rate)
		b.last = now
	}
}

// shardLimits are one shard's buckets.
type shardLimits struct {
	writeRecs, writeBytes bucket
	readCalls, readBytes  bucket
}

// limiter holds the buckets of every shard seen, keyed by stream and shard.
type limiter struct {
	mu     sync.Mutex
	shards map[shardLoc]*shardLimits
}

func (l *limiter) get(loc shardLoc) *shardLimits {
	if l.shards == nil {
		l.shards = make(map[shardLoc]*shardLimits)
	}
	s := l.shards[loc]
	if s == nil {
		s = &shardLimits{}
		l.shards[loc] = s
	}
	return s
}

// takeWrite admits one record of size bytes to loc, or says it is over
// the limit and takes nothing. A record larger than a full second's bytes
// is admitted when the byte bucket is full, and puts it into debt.
func (l *limiter) takeWrite(loc shardLoc, now time.Time, size int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(loc)
	s.writeRecs.refill(now, writeRecordsPerSec, writeRecordsPerSec)
	s.writeBytes.refill(now, writeBytesPerSec, writeBytesPerSec)
	n := float64(size)
	if s.writeRecs.tokens < 1 {
		return false
	}
	if s.writeBytes.tokens < n && !(n > writeBytesPerSec && s.writeBytes.tokens >= writeBytesPerSec) {
		return false
	}
	s.writeRecs.tokens--
	s.writeBytes.tokens -= n
	return true
}

// takeRead admits one GetRecords call on loc: a call token must be left and
// the byte bucket must not be in debt.
func (l *limiter) takeRead(loc shardLoc, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(loc)
	s.readCalls.refill(now, readCallsPerSec, readCallsPerSec)
	s.readBytes.refill(now, readBytesPerSec, readBytesPerSec)
	if s.readBytes.tokens < 0 || s.readCalls.tokens < 1 {
		return false
	}
	s.readCalls.tokens--
	return true
}

// chargeRead counts bytes read from loc after the fact; the bucket may go
// into debt.
func (l *limiter) chargeRead(loc shardLoc, now time.Time, bytes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(loc)
	s.readBytes.refill(now, readBytesPerSec, readBytesPerSec)
	s.readBytes.tokens -= float64(bytes)
}
