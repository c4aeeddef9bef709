package kinesistest

import (
	"context"
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// AWS's read limits.
const (
	iteratorLifetime = 5 * time.Minute
	maxGetRecords    = 10000
	maxGetBytes      = 10 << 20
	timeUnit         = time.Millisecond // arrival timestamps are whole ms
)

// iterator is what a shard iterator token carries. pos is the absolute
// position of the next record to return (see shard.records), so it stays
// valid when records before it are trimmed.
type iterator struct {
	stream, shard string
	pos           int
	issued        time.Time
}

// encodeIterator makes an opaque token. It names this fake, so a token from
// another Fake is rejected; it holds no state, so it can be reused, as AWS
// iterators can.
func (f *Fake) encodeIterator(it iterator) string {
	raw := strings.Join([]string{
		"iter", strconv.FormatUint(f.id, 10), it.stream, it.shard,
		strconv.Itoa(it.pos), strconv.FormatInt(it.issued.UnixNano(), 10),
	}, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func (f *Fake) decodeIterator(tok string) (iterator, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return iterator{}, false
	}
	p := strings.Split(string(raw), "|")
	if len(p) != 6 || p[0] != "iter" || p[1] != strconv.FormatUint(f.id, 10) {
		return iterator{}, false
	}
	pos, err1 := strconv.Atoi(p[4])
	issued, err2 := strconv.ParseInt(p[5], 10, 64)
	if err1 != nil || err2 != nil || pos < 0 {
		return iterator{}, false
	}
	return iterator{stream: p[2], shard: p[3], pos: pos, issued: time.Unix(0, issued)}, true
}

// GetShardIterator opens an iterator on a shard, open or closed:
// TRIM_HORIZON (first record), LATEST (after the last), AT_ and
// AFTER_SEQUENCE_NUMBER (at or after a record of that shard, or the shard's
// starting or ending sequence number), AT_TIMESTAMP (first record that
// arrived at or after Timestamp). Errors: unknown stream or shard
// (*types.ResourceNotFoundException); a sequence number that is not of
// this shard, or a missing argument (*types.InvalidArgumentException).
func (f *Fake) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	const op = "GetShardIterator"
	if in == nil {
		in = &kinesis.GetShardIteratorInput{}
	}
	var missing []string
	if in.ShardId == nil {
		missing = append(missing, "ShardId")
	}
	if in.ShardIteratorType == "" {
		missing = append(missing, "ShardIteratorType")
	}
	if len(missing) > 0 {
		return nil, missingParams(op, missing...)
	}
	if err := ctx.Err(); err != nil {
		return nil, canceled(op, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stream(op, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	s := st.shard(*in.ShardId)
	if s == nil {
		return nil, notFound(op, "Shard %s in stream %s under account %s does not exist", *in.ShardId, st.name, account)
	}

	var pos int
	switch t := in.ShardIteratorType; t {
	case types.ShardIteratorTypeTrimHorizon:
		pos = s.trimmed
	case types.ShardIteratorTypeLatest:
		pos = s.end()
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		if in.StartingSequenceNumber == nil {
			return nil, invalidArg(op, "StartingSequenceNumber is required for iterator type %s.", t)
		}
		p, ok := s.position(*in.StartingSequenceNumber, t == types.ShardIteratorTypeAfterSequenceNumber)
		if !ok {
			return nil, invalidArg(op, "Invalid StartingSequenceNumber. It is not a sequence number of shard %s in stream %s under account %s.", s.id, st.name, account)
		}
		pos = p
	case types.ShardIteratorTypeAtTimestamp:
		if in.Timestamp == nil {
			return nil, invalidArg(op, "Timestamp is required for iterator type AT_TIMESTAMP.")
		}
		ts := in.Timestamp.Truncate(timeUnit)
		pos = s.end()
		for i, r := range s.records {
			if !r.arrival.Before(ts) {
				pos = s.trimmed + i
				break
			}
		}
	default:
		return nil, validation(op, "1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set", t)
	}
	tok := f.encodeIterator(iterator{stream: st.name, shard: s.id, pos: pos, issued: f.now()})
	return &kinesis.GetShardIteratorOutput{ShardIterator: &tok}, nil
}

// position finds the position at (or after) sequence number seq of s.
// Besides its records' numbers, a shard accepts its own starting and, once
// closed, ending sequence number, which bracket its records. A number
// between the start and the first record kept (one trimmed away, or so it
// seems) gives the oldest record kept, as a read past retention does.
func (s *shard) position(seq string, after bool) (int, bool) {
	n, ok := parseSeq(seq)
	switch {
	case !ok:
		return 0, false
	case n == s.startSeq:
		return s.trimmed, true
	case !s.open() && n == s.endSeq:
		return s.end(), true
	case s.trimmed > 0 && n > s.startSeq && (len(s.records) == 0 || n < s.records[0].seq):
		return s.trimmed, true
	}
	i := sort.Search(len(s.records), func(i int) bool { return s.records[i].seq >= n })
	if i == len(s.records) || s.records[i].seq != n {
		return 0, false
	}
	if after {
		i++
	}
	return s.trimmed + i, true
}

// GetRecords returns up to Limit (default and most 10000) records, at most
// 10 MiB, from the iterator's position, with NextShardIterator and
// MillisBehindLatest (from the last returned record's arrival to the
// newest record's; 0 when caught up). A closed shard read to its end
// answers once more with no records, a nil NextShardIterator and its
// ChildShards (empty under WithoutChildShards). Errors: a token not from
// this Fake (*types.InvalidArgumentException), an iterator older than 5
// minutes on the fake clock (*types.ExpiredIteratorException), a Limit
// outside 1..10000 (*types.ValidationException). Faults may intervene;
// see Faults for where.
func (f *Fake) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	const op = "GetRecords"
	if in == nil || in.ShardIterator == nil {
		return nil, missingParams(op, "ShardIterator")
	}
	if err := ctx.Err(); err != nil {
		return nil, canceled(op, err)
	}
	limit := maxGetRecords
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > maxGetRecords {
			return nil, validation(op, "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *in.Limit, maxGetRecords)
		}
		limit = int(*in.Limit)
	}
	it, ok := f.decodeIterator(*in.ShardIterator)
	if !ok {
		return nil, invalidArg(op, "Invalid ShardIterator.")
	}

	f.mu.Lock()
	st := f.streams[it.stream]
	var s *shard
	if st != nil {
		s = st.shard(it.shard)
	}
	if s == nil || it.pos > s.end() {
		f.mu.Unlock()
		return nil, invalidArg(op, "Invalid ShardIterator.")
	}
	st.stats.GetCalls++
	fs := st.faults
	f.mu.Unlock()

	if err := sleep(ctx, fs.GetLatency); err != nil {
		f.mu.Lock()
		st.stats.GetErrors++
		f.mu.Unlock()
		return nil, canceled(op, err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	out, err := f.read(st, s, fs, it, limit)
	if err != nil {
		st.stats.GetErrors++
	}
	return out, err
}

// read answers GetRecords once the iterator is known good.
func (f *Fake) read(st *stream, s *shard, fs Faults, it iterator, limit int) (*kinesis.GetRecordsOutput, error) {
	const op = "GetRecords"
	now := f.now()
	if age := now.Sub(it.issued); age > iteratorLifetime {
		return nil, expiredIterator(op, "Iterator expired. The iterator was created %v ago, longer than the tolerated delay of %d milliseconds.", age, iteratorLifetime.Milliseconds())
	}
	if chance(st.getRand, fs.ExpireIteratorRate) {
		return nil, expiredIterator(op, "Iterator expired. The iterator was created at an earlier time than the tolerated delay of %d milliseconds.", iteratorLifetime.Milliseconds())
	}
	if chance(st.getRand, fs.GetErrRate) {
		return nil, internal(op)
	}
	if fs.Limits && !s.limits.admitRead(now) {
		st.stats.Throttles++
		return nil, throttled(op, "Rate exceeded for Shard - %s in stream %s under account %s.", s.id, st.name, account)
	}

	// Records trimmed meanwhile are gone: go on from the oldest kept.
	it.pos = max(it.pos, s.trimmed)
	if !s.open() && it.pos >= s.end() {
		out := &kinesis.GetRecordsOutput{Records: []types.Record{}, MillisBehindLatest: ptr(int64(0))}
		if f.childShards {
			out.ChildShards = s.childShards()
		}
		return out, nil
	}

	from := it.pos - s.trimmed
	to := from
	if !chance(st.getRand, fs.EmptyReadRate) {
		bytes := 0
		for to < len(s.records) && to-from < limit {
			n := len(s.records[to].data) + len(s.records[to].key)
			if to > from && bytes+n > maxGetBytes {
				break
			}
			bytes += n
			to++
		}
		if fs.Limits {
			s.limits.chargeRead(bytes)
		}
	}
	out := &kinesis.GetRecordsOutput{
		Records:            readRecords(s.records[from:to]),
		MillisBehindLatest: ptr(s.behind(from, to)),
	}
	it.pos, it.issued = s.trimmed+to, now
	s.consumed = max(s.consumed, it.pos)
	out.NextShardIterator = ptr(f.encodeIterator(it))
	return out, nil
}

// readRecords answers GetRecords with rs at a few allocations per call,
// none per record: the pointers the SDK's types want point into one
// []string and one []time.Time. Data is the stored copy, shared (see
// copyReads), so callers must not modify it.
func readRecords(rs []record) []types.Record {
	out := make([]types.Record, len(rs))
	strs := make([]string, 2*len(rs))
	times := make([]time.Time, len(rs))
	var arena []byte
	if copyReads {
		n := 0
		for i := range rs {
			n += len(rs[i].data)
		}
		arena = make([]byte, 0, n)
	}
	for i := range rs {
		r := &rs[i]
		strs[2*i], strs[2*i+1], times[i] = r.key, r.seqStr, r.arrival
		data := r.data
		if copyReads {
			start := len(arena)
			arena = append(arena, data...)
			data = arena[start:len(arena):len(arena)]
		}
		out[i] = types.Record{
			Data:                        data,
			PartitionKey:                &strs[2*i],
			SequenceNumber:              &strs[2*i+1],
			ApproximateArrivalTimestamp: &times[i],
			EncryptionType:              types.EncryptionTypeNone,
		}
	}
	return out
}

// behind is MillisBehindLatest for a reply that returned records[from:to]
// (indexes into s.records, not positions):
// the time from the last returned record (the next unread one if none was
// returned) to the newest record, 0 when caught up. Arrival timestamps
// need not be monotonic, so it is clamped at 0.
func (s *shard) behind(from, to int) int64 {
	if to >= len(s.records) {
		return 0
	}
	ref := s.records[from].arrival
	if to > from {
		ref = s.records[to-1].arrival
	}
	return max(0, s.records[len(s.records)-1].arrival.Sub(ref).Milliseconds())
}
