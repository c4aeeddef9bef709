package kinesistest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Faults are the failures and checks injected on one stream. They compose:
// each applies in its own stage of a call, in the order listed per call
// below, and all random choices come from the Fake's seed. The zero value
// injects nothing.
//
// PutRecords, after validation: OnPut and CheckKeys; PutLatency (first
// half); PutErr; ThrottleRate; per entry PutFailRate, then Limits; the
// write; PutLatency (second half); AmbiguousRate.
//
// GetRecords, after the iterator checks: GetLatency; ExpireIteratorRate;
// GetErrRate; Limits; EmptyReadRate.
type Faults struct {
	// PutFailRate is the fraction of PutRecords entries answered with an
	// ErrorCode (ProvisionedThroughputExceededException or InternalFailure,
	// chosen at random) instead of being written; later entries of the same
	// call are still written.
	PutFailRate float64

	// PutErr, if set, is asked before each PutRecords call is applied; a
	// non-nil error fails the whole call with nothing written, wrapped in a
	// *smithy.OperationError as the SDK does. call counts the stream's
	// PutRecords calls that passed validation, from 1.
	PutErr func(call int) error

	// AmbiguousRate is the fraction of PutRecords calls that are written
	// and still return an error, as when a response is lost: a timeout
	// (errors.Is context.DeadlineExceeded, a net.Error with Timeout) or a
	// *types.InternalFailureException, chosen at random.
	AmbiguousRate float64

	// ThrottleRate is the fraction of PutRecords calls rejected whole with
	// *types.ProvisionedThroughputExceededException, nothing written.
	ThrottleRate float64

	// Limits enforces AWS's per-shard limits with token buckets on the
	// fake clock. Writes: 1000 records/s and 1 MiB/s per shard, bursting to
	// one second's worth; entries over the limit fail one by one with
	// ProvisionedThroughputExceededException. Reads: 5 GetRecords calls/s
	// and 2 MiB/s per shard; a call over the limit fails whole with
	// *types.ProvisionedThroughputExceededException. Bytes may go into debt
	// (a record larger than the burst, or a 10 MiB read), which then
	// throttles until repaid, as AWS does after a large read.
	Limits bool

	// ExpireIteratorRate is the fraction of GetRecords calls answered with
	// *types.ExpiredIteratorException although the iterator is fresh.
	ExpireIteratorRate float64

	// EmptyReadRate is the fraction of GetRecords calls that return no
	// records and an iterator at the same position, as AWS sometimes does
	// before records become visible.
	EmptyReadRate float64

	// GetErrRate is the fraction of GetRecords calls failed with
	// *types.InternalFailureException (HTTP 500), a transient error.
	GetErrRate float64

	// PutLatency and GetLatency delay each PutRecords or GetRecords call,
	// on real (or synctest) time, returning early when ctx ends. A put
	// writes half-way through its latency: a ctx that ends in the first
	// half leaves nothing written, one that ends in the second half returns
	// the ctx error after the write, an ambiguous outcome.
	PutLatency, GetLatency time.Duration

	// OnPut, if set, sees the entries of each valid PutRecords call before
	// it is applied, for invariant checks. It runs without the Fake's lock
	// held and must not modify or keep entries.
	OnPut func(entries []types.PutRecordsRequestEntry)

	// CheckKeys reports a partition key (with its ExplicitHashKey, if any)
	// that is in flight twice: twice in one PutRecords call, or in two calls
	// that overlap in time. Reported
	// to WithT's TB and counted in Stats.KeyConflicts.
	CheckKeys bool
}

func (fs Faults) validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"PutFailRate", fs.PutFailRate},
		{"AmbiguousRate", fs.AmbiguousRate},
		{"ThrottleRate", fs.ThrottleRate},
		{"ExpireIteratorRate", fs.ExpireIteratorRate},
		{"EmptyReadRate", fs.EmptyReadRate},
		{"GetErrRate", fs.GetErrRate},
	} {
		if !(r.v >= 0 && r.v <= 1) {
			errs = append(errs, fmt.Errorf("%s %v: must be 0..1", r.name, r.v))
		}
	}
	if fs.PutLatency < 0 {
		errs = append(errs, fmt.Errorf("PutLatency %v: must be >= 0", fs.PutLatency))
	}
	if fs.GetLatency < 0 {
		errs = append(errs, fmt.Errorf("GetLatency %v: must be >= 0", fs.GetLatency))
	}
	return errors.Join(errs...)
}

// SetFaults replaces the faults of stream; calls already running keep the
// faults they started with. It reports every bad field at once.
func (f *Fake) SetFaults(stream string, fs Faults) error {
	if err := fs.validate(); err != nil {
		return fmt.Errorf("faults of %s: %w", stream, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	if st == nil {
		return fmt.Errorf("faults: stream %q not found", stream)
	}
	st.faults = fs
	return nil
}

// chance draws from r only for a non-zero rate, so setting one fault does
// not shift the draws of a run without it.
func chance(r *rand.Rand, rate float64) bool {
	return rate > 0 && r.Float64() < rate
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// AWS's per-shard limits.
const (
	writeRecordsPerSec = 1000
	writeBytesPerSec   = 1 << 20
	readCallsPerSec    = 5
	readBytesPerSec    = 2 << 20
)

// bucket is a token bucket refilled on the fake clock. Its zero value is
// unused; its first refill fills it.
type bucket struct {
	tokens float64
	last   time.Time
	init   bool
}

// refill adds rate tokens per second since the last refill, up to one
// second's worth. A clock going back adds nothing.
func (b *bucket) refill(now time.Time, rate float64) {
	if !b.init {
		b.tokens, b.last, b.init = rate, now, true
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(rate, b.tokens+d.Seconds()*rate)
		b.last = now
	}
}

// limits are one shard's throughput buckets.
type limits struct {
	writeRecords, writeBytes, readCalls, readBytes bucket
}

// admitWrite takes one record of n bytes from the write buckets, or
// reports the shard over its limit. A record larger than the burst passes
// on a full bucket and leaves it in debt.
func (l *limits) admitWrite(now time.Time, n int) bool {
	l.writeRecords.refill(now, writeRecordsPerSec)
	l.writeBytes.refill(now, writeBytesPerSec)
	if l.writeRecords.tokens < 1 || l.writeBytes.tokens < min(float64(n), writeBytesPerSec) {
		return false
	}
	l.writeRecords.tokens--
	l.writeBytes.tokens -= float64(n)
	return true
}

// admitRead takes one call from the read bucket, or reports the shard over
// its limit; the bytes a call returns are charged with chargeRead.
func (l *limits) admitRead(now time.Time) bool {
	l.readCalls.refill(now, readCallsPerSec)
	l.readBytes.refill(now, readBytesPerSec)
	if l.readCalls.tokens < 1 || l.readBytes.tokens <= 0 {
		return false
	}
	l.readCalls.tokens--
	return true
}

func (l *limits) chargeRead(n int) { l.readBytes.tokens -= float64(n) }
