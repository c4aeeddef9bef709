package kinesisio

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/repartd/repartd/repartition"
)

// Kinesis limits that repartd enforces itself, so a call is never rejected
// whole for a reason it could have checked.
const (
	MaxPutEntries      = 500
	MaxPutRequestBytes = 5 << 20 // the documented request cap; some SDK texts say 10 MiB
	DefaultMaxRecord   = 1 << 20 // when DescribeStreamSummary reports no MaxRecordSizeInKiB
	MaxGetLimit        = 10000
)

// Bad-record routes and expired-checkpoint policies.
const (
	InvalidForward     = "forward"
	InvalidDLQ         = "dlq"
	InvalidStop        = "stop"
	ExpiredFail        = "fail"
	ExpiredTrimHorizon = "trim-horizon"
)

// Ordering modes.
const (
	OrderingStrict = "strict"
	OrderingReplay = "replay"
)

// Config is the relay's configuration. DefaultConfig holds every default.
type Config struct {
	Source, Dest string
	Rules        *repartition.KeyRules

	// Ordering is "strict" (default: a key never has two records
	// unacknowledged, so first occurrences are in order) or "replay" (a
	// key's records share calls; after a failure the failed record and every
	// later one of its key are sent again, so last occurrences are in order
	// and a hot key moves up to a call's worth of records per round trip).
	Ordering string

	// ShardRecordsPerSec and ShardBytesPerSec pace each destination shard
	// (Kinesis allows 1,000 records/s and 1 MiB/s per shard), so writes
	// slow down before they bounce off throttling. 0 disables a limit.
	ShardRecordsPerSec int
	ShardBytesPerSec   int

	// StartPosition applies to shards without a checkpoint:
	// TRIM_HORIZON (default: every record DMS wrote, create-table records
	// included) or LATEST.
	StartPosition types.ShardIteratorType

	// Memory bound: records (and their bytes) read and not yet
	// acknowledged. Readers stop reading while it is reached.
	MaxBufferedRecords int
	MaxBufferedBytes   int64
	// MaxUncommittedRecords bounds records read and not yet checkpointable
	// (some earlier record of their shard is not yet acknowledged): the
	// watermark keeps a slot for each (~100 bytes), and a restart replays
	// them. A row that falls behind in strict order holds the checkpoint
	// back; reading then waits for it instead of letting the checkpoint
	// lag without limit. 0: 4 × MaxBufferedRecords.
	MaxUncommittedRecords int

	BatchRecords int           // entries per PutRecords, 1..500
	BatchBytes   int           // bytes per PutRecords (data + keys)
	MaxInFlight  int           // concurrent PutRecords calls
	PutTimeout   time.Duration // per PutRecords call; a timeout is an ambiguous outcome

	PollInterval time.Duration // minimum time between GetRecords on a shard (≥ 200ms keeps within 5/s)
	ReadLimit    int           // GetRecords Limit
	ShardRefresh time.Duration // how often to re-list source shards

	RetryBase, RetryMax time.Duration // jittered exponential back-off

	CheckpointInterval time.Duration
	LogInterval        time.Duration
	DrainTimeout       time.Duration
	// StopWhenIdle, if set, drains and stops once every shard has been
	// caught up and nothing was buffered for this long (backfills, demos).
	StopWhenIdle time.Duration

	// MaxRecordSize overrides the destination's maximum record size
	// (data + partition key); 0 asks DescribeStreamSummary. The dead-letter
	// stream's is always asked.
	MaxRecordSize int

	// OnInvalid routes invalid records: "forward" (default: unchanged, under
	// the hash of their source partition key), "dlq" (to DLQStream, in an
	// envelope) or "stop" (the shard stops there, no checkpoint past it).
	OnInvalid string
	// DLQStream, if set, takes invalid records (OnInvalid "dlq") and
	// records too big for the destination; without it those stop their
	// shard.
	DLQStream string

	// OnExpiredCheckpoint says what to do when a checkpointed position
	// aged out of the source's retention (records were lost before we read
	// them): "fail" (default: exit with an error) or "trim-horizon" (log
	// an error and go on from the oldest record still there).
	OnExpiredCheckpoint string

	// InvalidLogPerSecond bounds individual log lines for invalid records;
	// past it they are only counted (in the lag line).
	InvalidLogPerSecond int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Ordering:            OrderingStrict,
		ShardRecordsPerSec:  1000,
		ShardBytesPerSec:    1 << 20,
		StartPosition:       types.ShardIteratorTypeTrimHorizon,
		MaxBufferedRecords:  50_000,
		MaxBufferedBytes:    64 << 20,
		BatchRecords:        MaxPutEntries,
		BatchBytes:          MaxPutRequestBytes,
		MaxInFlight:         8,
		PutTimeout:          30 * time.Second,
		PollInterval:        200 * time.Millisecond,
		ReadLimit:           MaxGetLimit,
		ShardRefresh:        30 * time.Second,
		RetryBase:           100 * time.Millisecond,
		RetryMax:            5 * time.Second,
		CheckpointInterval:  time.Second,
		LogInterval:         10 * time.Second,
		DrainTimeout:        60 * time.Second,
		InvalidLogPerSecond: 100,
		OnInvalid:           InvalidForward,
		OnExpiredCheckpoint: ExpiredFail,
	}
}

// Validate reports every bad field at once.
func (c Config) Validate() error {
	var errs []error
	if c.Source == "" {
		errs = append(errs, errors.New("source: required"))
	}
	if c.Dest == "" {
		errs = append(errs, errors.New("dest: required"))
	}
	if c.Source != "" && c.Source == c.Dest {
		errs = append(errs, fmt.Errorf("dest %q: must differ from source", c.Dest))
	}
	if c.Ordering != OrderingStrict && c.Ordering != OrderingReplay {
		errs = append(errs, fmt.Errorf("ordering %q: must be %s or %s", c.Ordering, OrderingStrict, OrderingReplay))
	}
	if c.ShardRecordsPerSec < 0 || c.ShardBytesPerSec < 0 {
		errs = append(errs, fmt.Errorf("shard limits %d records/s, %d bytes/s: must be ≥ 0 (0: unlimited)", c.ShardRecordsPerSec, c.ShardBytesPerSec))
	}
	if c.StartPosition != types.ShardIteratorTypeTrimHorizon && c.StartPosition != types.ShardIteratorTypeLatest {
		errs = append(errs, fmt.Errorf("start-position %q: must be TRIM_HORIZON or LATEST", c.StartPosition))
	}
	if c.MaxUncommittedRecords != 0 && c.MaxUncommittedRecords < c.MaxBufferedRecords {
		errs = append(errs, fmt.Errorf("max-uncommitted-records %d: must be 0 (auto) or ≥ max-buffered-records (%d)", c.MaxUncommittedRecords, c.MaxBufferedRecords))
	}
	if c.MaxBufferedRecords < 1 {
		errs = append(errs, fmt.Errorf("max-buffered-records %d: must be ≥ 1", c.MaxBufferedRecords))
	}
	if c.MaxBufferedBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("max-buffered-bytes %d: must be ≥ 1 MiB", c.MaxBufferedBytes))
	}
	if c.BatchRecords < 1 || c.BatchRecords > MaxPutEntries {
		errs = append(errs, fmt.Errorf("batch-records %d: must be 1..%d", c.BatchRecords, MaxPutEntries))
	}
	if c.BatchBytes < 1<<20 || c.BatchBytes > MaxPutRequestBytes {
		errs = append(errs, fmt.Errorf("batch-bytes %d: must be 1 MiB..5 MiB", c.BatchBytes))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 256 {
		errs = append(errs, fmt.Errorf("max-in-flight %d: must be 1..256", c.MaxInFlight))
	}
	if c.PutTimeout < time.Second {
		errs = append(errs, fmt.Errorf("put-timeout %s: must be ≥ 1s", c.PutTimeout))
	}
	if c.PollInterval < 200*time.Millisecond {
		errs = append(errs, fmt.Errorf("poll-interval %s: must be ≥ 200ms (Kinesis allows 5 GetRecords/s per shard)", c.PollInterval))
	}
	if c.ReadLimit < 1 || c.ReadLimit > MaxGetLimit {
		errs = append(errs, fmt.Errorf("read-limit %d: must be 1..%d", c.ReadLimit, MaxGetLimit))
	}
	if c.ShardRefresh < time.Second {
		errs = append(errs, fmt.Errorf("shard-refresh %s: must be ≥ 1s", c.ShardRefresh))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("retry back-off %s..%s: need 0 < base ≤ max", c.RetryBase, c.RetryMax))
	}
	if c.CheckpointInterval <= 0 || c.CheckpointInterval > time.Minute {
		errs = append(errs, fmt.Errorf("checkpoint-interval %s: must be in (0, 1m]", c.CheckpointInterval))
	}
	if c.LogInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("log-interval %s: must be ≥ 100ms", c.LogInterval))
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("drain-timeout %s: must be > 0", c.DrainTimeout))
	}
	if c.StopWhenIdle < 0 {
		errs = append(errs, fmt.Errorf("stop-when-idle %s: must be ≥ 0", c.StopWhenIdle))
	}
	if c.MaxRecordSize < 0 || c.MaxRecordSize > 10<<20 {
		errs = append(errs, fmt.Errorf("max-record-size %d: must be 0 (ask the stream) or ≤ 10 MiB", c.MaxRecordSize))
	}
	switch c.OnInvalid {
	case InvalidForward, InvalidStop:
	case InvalidDLQ:
		if c.DLQStream == "" {
			errs = append(errs, errors.New("on-invalid dlq: needs --dlq-stream"))
		}
	default:
		errs = append(errs, fmt.Errorf("on-invalid %q: must be forward, dlq or stop", c.OnInvalid))
	}
	if c.DLQStream != "" && (c.DLQStream == c.Source || c.DLQStream == c.Dest) {
		errs = append(errs, fmt.Errorf("dlq-stream %q: must differ from source and dest", c.DLQStream))
	}
	if c.OnExpiredCheckpoint != ExpiredFail && c.OnExpiredCheckpoint != ExpiredTrimHorizon {
		errs = append(errs, fmt.Errorf("on-expired-checkpoint %q: must be fail or trim-horizon", c.OnExpiredCheckpoint))
	}
	if c.InvalidLogPerSecond < 0 {
		errs = append(errs, fmt.Errorf("invalid-log-per-second %d: must be ≥ 0", c.InvalidLogPerSecond))
	}
	return errors.Join(errs...)
}

// backoff is a capped exponential back-off with full jitter.
type backoff struct {
	base, max time.Duration
	attempt   int
}

func (b *backoff) next() time.Duration {
	d := backoffDelay(b.base, b.max, b.attempt)
	b.attempt++
	return d
}

func (b *backoff) reset() { b.attempt = 0 }

// backoffDelay is the delay before retry number attempt (0-based): uniform
// in [cap/2, cap] where cap = min(max, base·2^attempt). Half jitter keeps a
// floor so retries never stampede at zero delay.
func backoffDelay(base, maxDelay time.Duration, attempt int) time.Duration {
	c := maxDelay
	if attempt < 30 {
		c = min(maxDelay, base<<attempt)
	}
	return c/2 + rand.N(c/2+1)
}

// uncommittedBound is MaxUncommittedRecords, or its default.
func (c Config) uncommittedBound() int {
	if c.MaxUncommittedRecords > 0 {
		return c.MaxUncommittedRecords
	}
	return 4 * c.MaxBufferedRecords
}
