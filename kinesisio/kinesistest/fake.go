package kinesistest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const (
	region  = "us-east-1"
	account = "000000000000"

	defaultMaxRecordKiB = 1024 // AWS's record size limit unless a stream sets one
)

// fakeIDs numbers fakes, so tokens of one Fake are rejected by another.
var fakeIDs atomic.Uint64

// Fake is an in-memory Kinesis holding several streams. It implements the
// SDK calls repartd uses (ListShards, GetShardIterator, GetRecords,
// PutRecords, DescribeStreamSummary) with the exact *kinesis.Client method
// signatures, and is safe for concurrent use. Errors are the SDK's typed
// errors wrapped as the SDK wraps them.
//
// Nothing expires by itself: every record stays readable and every shard
// stays listed, as if retention were unlimited, until a test drops records
// with Trim or DiscardRecords (long runs, whose memory must stay flat).
type Fake struct {
	id          uint64
	clock       func() time.Time
	seed        int64
	childShards bool
	t           TB

	mu      sync.Mutex
	streams map[string]*stream
}

// stream is one stream's state; Fake.mu guards it.
type stream struct {
	name    string
	created time.Time
	seq     uint64   // last sequence number handed out, stream-wide
	shards  []*shard // index i holds shardId-i
	// openSorted are the open shards by range start, for openShardFor;
	// nil after a reshard until rebuilt.
	openSorted []*shard
	maxKiB     int // 0: not set, records may be up to defaultMaxRecordKiB
	faults     Faults
	putRand    *rand.Rand // PutRecords faults only, so reads don't shift them
	getRand    *rand.Rand // GetRecords faults only
	calls      int        // PutRecords calls that reached the fault stage
	flying     map[flyKey]flight
	stats      Stats
}

// flyKey is the unit of order the in-flight check tracks: a partition key
// on its shard. Copies of one record placed on different shards by
// ExplicitHashKey (as repartd broadcasts DDL) do not conflict.
type flyKey struct{ pk, ehk string }

// flight counts the calls carrying a key; call and idx name the latest
// entry that took off with it, so a duplicate within one call is told apart
// from an overlapping call.
type flight struct{ n, call, idx int }

// record is a stored record. data and seqStr are its own allocations,
// formatted and copied once at PutRecords and handed to every reader; key
// and ehk are the writer's (immutable) strings.
type record struct {
	seq     uint64
	seqStr  string // seq formatted, shared with the PutRecords answer
	key     string
	ehk     string // "" when the writer set none
	data    []byte
	arrival time.Time
}

// hashKey recomputes the hash key that routed r.
func (r *record) hashKey() hashKey {
	if r.ehk != "" {
		k, _ := parseHashKey(r.ehk)
		return k
	}
	return md5Key(r.key)
}

// StoredRecord is a record as the fake holds it, for verifiers.
type StoredRecord struct {
	ShardID         string
	SequenceNumber  string
	PartitionKey    string
	ExplicitHashKey string // "" when the writer set none
	HashKey         string // the decimal hash key that routed the record
	Data            []byte
	Arrival         time.Time // ApproximateArrivalTimestamp
}

// Stats counts calls, for assertions. Counts only grow.
type Stats struct {
	PutCalls      int // PutRecords calls naming a known stream with 1..500 entries, rejected ones included
	PutEntries    int // entries in those calls
	Written       int // records stored
	FailedEntries int // entries answered with an ErrorCode
	PutErrors     int // PutRecords calls that returned an error
	Ambiguous     int // PutRecords calls that wrote records and still returned an error
	GetCalls      int // GetRecords calls with a valid iterator
	GetErrors     int // of those, calls that returned an error
	Throttles     int // whole calls rejected with ProvisionedThroughputExceededException
	KeyConflicts  int // partition keys seen twice in flight while Faults.CheckKeys was set
}

func (s *Stats) add(o Stats) {
	s.PutCalls += o.PutCalls
	s.PutEntries += o.PutEntries
	s.Written += o.Written
	s.FailedEntries += o.FailedEntries
	s.PutErrors += o.PutErrors
	s.Ambiguous += o.Ambiguous
	s.GetCalls += o.GetCalls
	s.GetErrors += o.GetErrors
	s.Throttles += o.Throttles
	s.KeyConflicts += o.KeyConflicts
}

// TB is the part of testing.TB the fake reports misuse to.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// Option configures a Fake; options are test seams.
type Option func(*Fake)

// WithClock sets the clock behind arrival timestamps, iterator and
// NextToken expiry, AT_TIMESTAMP and throughput limits. Default time.Now.
// The clock may stand still or go back, as arrival timestamps may in AWS.
func WithClock(now func() time.Time) Option { return func(f *Fake) { f.clock = now } }

// WithSeed seeds every injected fault. Default: a random seed, reported
// by Seed, so a failing run can be repeated.
func WithSeed(seed int64) Option { return func(f *Fake) { f.seed = seed } }

// WithoutChildShards makes GetRecords leave ChildShards empty at a shard's
// end, as kinesalite does. Default: filled, as AWS does.
func WithoutChildShards() Option { return func(f *Fake) { f.childShards = false } }

// WithT reports misuse to t with Errorf: a partition key in flight twice
// while Faults.CheckKeys is set. Default: misuse is only counted in Stats.
func WithT(t TB) Option { return func(f *Fake) { f.t = t } }

// New returns a Fake with no streams.
func New(opts ...Option) *Fake {
	f := &Fake{
		id:          fakeIDs.Add(1),
		clock:       time.Now,
		seed:        rand.Int64(),
		childShards: true,
		streams:     map[string]*stream{},
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Seed returns the seed behind injected faults; print it when a test fails.
func (f *Fake) Seed() int64 { return f.seed }

func (f *Fake) now() time.Time { return f.clock() }

// streamPattern is AWS's stream name pattern; it also keeps '|' out of the
// fake's tokens.
var streamPattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// CreateStream creates an ACTIVE stream with shards open shards splitting
// the hash key space evenly, as AWS does: shard i covers
// [i*2^128/shards, (i+1)*2^128/shards - 1] and has id shardId-00000000000i.
func (f *Fake) CreateStream(name string, shards int) error {
	if !streamPattern.MatchString(name) {
		return fmt.Errorf("create stream %q: name must match %s", name, streamPattern)
	}
	if shards < 1 {
		return fmt.Errorf("create stream %s: %d shards, need at least 1", name, shards)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streams[name] != nil {
		return fmt.Errorf("create stream %s: exists", name)
	}
	now := f.now()
	st := &stream{
		name:    name,
		created: now,
		putRand: f.rand(name, "put"),
		getRand: f.rand(name, "get"),
		flying:  map[flyKey]flight{},
	}
	for _, r := range evenRanges(shards) {
		st.addShard(r[0], r[1], "", "", now)
	}
	f.streams[name] = st
	return nil
}

// rand returns the random source of one stream's faults of one kind,
// derived from the seed alone, so a run repeats with its seed.
func (f *Fake) rand(stream, kind string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream + "/" + kind))
	return rand.New(rand.NewPCG(uint64(f.seed), h.Sum64()))
}

// SetMaxRecordSize sets the stream's largest record (data plus partition
// key) in KiB, 1024..10240, like UpdateMaxRecordSize; DescribeStreamSummary
// then reports it. Until set, records may be up to 1 MiB and the summary
// leaves MaxRecordSizeInKiB nil, as kinesalite does.
func (f *Fake) SetMaxRecordSize(stream string, kib int) error {
	if kib < 1024 || kib > 10240 {
		return fmt.Errorf("max record size of %s: %d KiB, must be 1024..10240", stream, kib)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	if st == nil {
		return fmt.Errorf("max record size: stream %q not found", stream)
	}
	st.maxKiB = kib
	return nil
}

// maxRecordBytes is the largest data plus partition key the stream takes.
func (st *stream) maxRecordBytes() int {
	if st.maxKiB == 0 {
		return defaultMaxRecordKiB << 10
	}
	return st.maxKiB << 10
}

// nextSeq hands out the next sequence number: sequence numbers increase
// across the whole stream, so they increase within each shard too.
func (st *stream) nextSeq() uint64 {
	st.seq++
	return st.seq
}

// seqDigits pads sequence numbers to the width of real ones, so code that
// compares them as int64 breaks here as it would against AWS.
const seqDigits = 56

func formatSeq(n uint64) string {
	var b [seqDigits]byte
	return string(appendSeq(b[:0], n))
}

// zeros pads sequence numbers.
var zeros = strings.Repeat("0", seqDigits)

// appendSeq appends n as a seqDigits-wide decimal, so one buffer can hold
// the numbers of a whole call.
func appendSeq(dst []byte, n uint64) []byte {
	digits := 1
	for v := n; v >= 10; v /= 10 {
		digits++
	}
	dst = append(dst, zeros[:seqDigits-digits]...)
	return strconv.AppendUint(dst, n, 10)
}

// parseSeq reads a sequence number this fake issued.
func parseSeq(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 129 {
		return 0, false
	}
	t := strings.TrimLeft(s, "0")
	if t == "" {
		return 0, true
	}
	n, err := strconv.ParseUint(t, 10, 64)
	return n, err == nil
}

// Records returns the stream's records for verifiers: shards in id order,
// each shard's records in sequence order. Data is copied. Nil for an
// unknown stream.
func (f *Fake) Records(stream string) []StoredRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	if st == nil {
		return nil
	}
	var out []StoredRecord
	for _, s := range st.shards {
		for _, r := range s.records {
			out = append(out, StoredRecord{
				ShardID:         s.id,
				SequenceNumber:  r.seqStr,
				PartitionKey:    r.key,
				ExplicitHashKey: r.ehk,
				HashKey:         r.hashKey().String(),
				Data:            append([]byte(nil), r.data...),
				Arrival:         r.arrival,
			})
		}
	}
	return out
}

// Stats returns the counts summed over all streams.
func (f *Fake) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s Stats
	for _, st := range f.streams {
		s.add(st.stats)
	}
	return s
}

// StreamStats returns one stream's counts; zero for an unknown stream.
func (f *Fake) StreamStats(stream string) Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.streams[stream]; st != nil {
		return st.stats
	}
	return Stats{}
}

// ARN returns the stream ARN the fake reports and accepts for stream.
func ARN(stream string) string {
	return "arn:aws:kinesis:" + region + ":" + account + ":stream/" + stream
}

// streamName resolves a call's StreamName or StreamARN.
func streamName(op string, name, arn *string) (string, error) {
	switch {
	case arn != nil:
		n, ok := strings.CutPrefix(*arn, "arn:aws:kinesis:"+region+":"+account+":stream/")
		if !ok || (name != nil && *name != n) {
			return "", invalidArg(op, "StreamARN %s does not name a stream of this account, or disagrees with StreamName.", *arn)
		}
		return n, nil
	case name != nil:
		return *name, nil
	}
	return "", invalidArg(op, "Either StreamName or StreamARN should be provided.")
}

// stream returns the named stream or ResourceNotFoundException.
func (f *Fake) stream(op string, name, arn *string) (*stream, error) {
	n, err := streamName(op, name, arn)
	if err != nil {
		return nil, err
	}
	st := f.streams[n]
	if st == nil {
		return nil, notFound(op, "Stream %s under account %s not found.", n, account)
	}
	return st, nil
}

// DescribeStreamSummary describes a stream: name, ARN, ACTIVE, open shard
// count, 24 h retention, provisioned mode, and MaxRecordSizeInKiB only if
// SetMaxRecordSize was called (nil otherwise, as kinesalite leaves it).
func (f *Fake) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	const op = "DescribeStreamSummary"
	if err := ctx.Err(); err != nil {
		return nil, canceled(op, err)
	}
	if in == nil {
		in = &kinesis.DescribeStreamSummaryInput{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stream(op, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	open := int32(0)
	for _, s := range st.shards {
		if s.open() {
			open++
		}
	}
	sum := &types.StreamDescriptionSummary{
		StreamName:              ptr(st.name),
		StreamARN:               ptr(ARN(st.name)),
		StreamStatus:            types.StreamStatusActive,
		StreamCreationTimestamp: ptr(st.created),
		OpenShardCount:          &open,
		RetentionPeriodHours:    ptr(int32(24)),
		ConsumerCount:           ptr(int32(0)),
		EncryptionType:          types.EncryptionTypeNone,
		EnhancedMonitoring:      []types.EnhancedMetrics{{ShardLevelMetrics: []types.MetricsName{}}},
		StreamModeDetails:       &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned},
	}
	if st.maxKiB != 0 {
		sum.MaxRecordSizeInKiB = ptr(int32(st.maxKiB))
	}
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: sum}, nil
}

// report counts and reports a misuse of the fake.
func (f *Fake) report(st *stream, err error) {
	st.stats.KeyConflicts++
	if f.t != nil {
		f.t.Helper()
		f.t.Errorf("kinesistest: %v", err)
	}
}

var errKeyInFlight = errors.New("partition key already in flight")

func ptr[T any](v T) *T { return &v }
