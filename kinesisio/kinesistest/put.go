package kinesistest

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// AWS's PutRecords request limits.
const (
	maxPutEntries   = 500
	maxPartitionKey = 256     // characters
	maxRequestBytes = 5 << 20 // data plus partition keys, whole request
)

// PutRecords writes a batch as AWS does. The whole call fails, nothing
// written, when the request is invalid: no Records or a nil Data (the SDK's
// client-side *smithy.InvalidParamsError), not 1..500 entries
// (*types.ValidationException), an unknown stream
// (*types.ResourceNotFoundException), a partition key not 1..256
// characters, a bad ExplicitHashKey, a record (data plus partition key)
// over the stream's maximum, or a request over 5 MiB
// (*types.InvalidArgumentException). Otherwise entries are applied in
// request order, each routed by ExplicitHashKey, else by the MD5 of its
// partition key, to the open shard whose range holds it; Records[i] answers
// entry i with ShardId and SequenceNumber, or ErrorCode and ErrorMessage,
// and a failed entry does not stop later ones. Faults may intervene; see
// Faults for where.
func (f *Fake) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	const op = "PutRecords"
	if in == nil {
		in = &kinesis.PutRecordsInput{}
	}
	if err := checkPutParams(in); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, canceled(op, err)
	}

	// 1. Validate, count, and register the keys in flight.
	f.mu.Lock()
	st, err := f.validatePut(op, in)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	fs := st.faults
	st.calls++
	call := st.calls
	var keys []string
	if fs.CheckKeys {
		keys = f.takeOff(st, in.Records)
	}
	f.mu.Unlock()
	defer f.land(st, keys)

	fail := func(err error) (*kinesis.PutRecordsOutput, error) {
		f.mu.Lock()
		st.stats.PutErrors++
		f.mu.Unlock()
		return nil, err
	}

	// 2. Faults that leave nothing written.
	if fs.OnPut != nil {
		fs.OnPut(in.Records)
	}
	if err := sleep(ctx, fs.PutLatency/2); err != nil {
		return fail(canceled(op, err))
	}
	if fs.PutErr != nil {
		if err := fs.PutErr(call); err != nil {
			if _, ok := errors.AsType[*smithy.OperationError](err); !ok {
				err = &smithy.OperationError{ServiceID: "Kinesis", OperationName: op, Err: err}
			}
			return fail(err)
		}
	}

	// 3. The write.
	f.mu.Lock()
	if chance(st.putRand, fs.ThrottleRate) {
		st.stats.Throttles++
		st.stats.PutErrors++
		f.mu.Unlock()
		return nil, throttled(op, "Rate exceeded for stream %s under account %s.", st.name, account)
	}
	out := f.apply(st, fs, in.Records)
	f.mu.Unlock()

	// 4. Faults after the write: the caller cannot tell it happened.
	ambiguous := func(err error) (*kinesis.PutRecordsOutput, error) {
		f.mu.Lock()
		st.stats.Ambiguous++
		st.stats.PutErrors++
		f.mu.Unlock()
		return nil, err
	}
	if err := sleep(ctx, fs.PutLatency-fs.PutLatency/2); err != nil {
		return ambiguous(canceled(op, err))
	}
	f.mu.Lock()
	amb := chance(st.putRand, fs.AmbiguousRate)
	timedOut := amb && st.putRand.IntN(2) == 0
	f.mu.Unlock()
	switch {
	case timedOut:
		return ambiguous(timeout(op))
	case amb:
		return ambiguous(internal(op))
	}
	return out, nil
}

// checkPutParams is the SDK's client-side validation: the call never
// reaches the service.
func checkPutParams(in *kinesis.PutRecordsInput) error {
	if in.Records == nil {
		return missingParams("PutRecords", "Records")
	}
	var missing []string
	for i, e := range in.Records {
		if e.Data == nil {
			missing = append(missing, fmt.Sprintf("Records[%d].Data", i))
		}
	}
	if len(missing) > 0 {
		return missingParams("PutRecords", missing...)
	}
	return nil
}

// validatePut applies AWS's whole-request checks and counts the call.
func (f *Fake) validatePut(op string, in *kinesis.PutRecordsInput) (*stream, error) {
	n := len(in.Records)
	if n < 1 || n > maxPutEntries {
		return nil, validation(op, "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d (got %d)", maxPutEntries, n)
	}
	st, err := f.stream(op, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	st.stats.PutCalls++
	st.stats.PutEntries += n
	if err := checkEntries(op, in.Records, st.maxRecordBytes()); err != nil {
		st.stats.PutErrors++
		return nil, err
	}
	return st, nil
}

// checkEntries rejects the whole request for one bad entry, as AWS does.
// Messages name the entry, never its contents.
func checkEntries(op string, entries []types.PutRecordsRequestEntry, maxRecord int) error {
	total := 0
	for i, e := range entries {
		if e.PartitionKey == nil {
			return invalidArg(op, "Records[%d]: PartitionKey is required.", i)
		}
		if n := utf8.RuneCountInString(*e.PartitionKey); n < 1 || n > maxPartitionKey {
			return invalidArg(op, "Records[%d]: partition key has %d characters, must have 1..%d.", i, n, maxPartitionKey)
		}
		if e.ExplicitHashKey != nil {
			if _, ok := parseHashKey(*e.ExplicitHashKey); !ok {
				return invalidArg(op, "Records[%d]: ExplicitHashKey must be a decimal in 0..2^128-1.", i)
			}
		}
		size := len(e.Data) + len(*e.PartitionKey)
		if size > maxRecord {
			return invalidArg(op, "Records[%d]: record size %d bytes (data and partition key) exceeds the maximum of %d.", i, size, maxRecord)
		}
		total += size
	}
	if total > maxRequestBytes {
		return invalidArg(op, "Records size %d bytes exceeds the request limit of %d.", total, maxRequestBytes)
	}
	return nil
}

// apply writes entries in request order and answers each.
func (f *Fake) apply(st *stream, fs Faults, entries []types.PutRecordsRequestEntry) *kinesis.PutRecordsOutput {
	now := f.now().Truncate(timeUnit)
	out := &kinesis.PutRecordsOutput{
		Records:        make([]types.PutRecordsResultEntry, len(entries)),
		EncryptionType: types.EncryptionTypeNone,
	}
	failed := int32(0)
	failEntry := func(i int, code, message string) {
		out.Records[i] = types.PutRecordsResultEntry{ErrorCode: ptr(code), ErrorMessage: ptr(message)}
		failed++
	}
	for i, e := range entries {
		var k hashKey
		var ehk string
		if e.ExplicitHashKey != nil {
			k, _ = parseHashKey(*e.ExplicitHashKey) // checkEntries vetted it
			ehk = *e.ExplicitHashKey
		} else {
			k = md5Key(*e.PartitionKey)
		}
		s := st.openShardFor(k)
		if chance(st.putRand, fs.PutFailRate) {
			if st.putRand.IntN(2) == 0 {
				failEntry(i, codeThroughput, rateExceeded(st, s))
			} else {
				failEntry(i, codeInternal, "Internal service failure.")
			}
			continue
		}
		if fs.Limits && !s.limits.admitWrite(now, len(e.Data)+len(*e.PartitionKey)) {
			failEntry(i, codeThroughput, rateExceeded(st, s))
			continue
		}
		r := record{
			seq:     st.nextSeq(),
			key:     *e.PartitionKey,
			ehk:     ehk,
			hash:    k,
			data:    append(make([]byte, 0, len(e.Data)), e.Data...),
			arrival: now,
		}
		s.records = append(s.records, r)
		out.Records[i] = types.PutRecordsResultEntry{ShardId: ptr(s.id), SequenceNumber: ptr(formatSeq(r.seq))}
	}
	out.FailedRecordCount = &failed
	st.stats.FailedEntries += int(failed)
	st.stats.Written += len(entries) - int(failed)
	return out
}

func rateExceeded(st *stream, s *shard) string {
	return fmt.Sprintf("Rate exceeded for shard %s in stream %s under account %s.", s.id, st.name, account)
}

// takeOff registers the partition keys of a call as in flight and reports
// any already in flight. It returns the keys for land.
func (f *Fake) takeOff(st *stream, entries []types.PutRecordsRequestEntry) []string {
	keys := make([]string, len(entries))
	first := make(map[string]int, len(entries))
	for i, e := range entries {
		// The unit of order is the partition key on its shard: copies of
		// one record placed on different shards by ExplicitHashKey (as
		// repartd broadcasts DDL) do not conflict.
		k := *e.PartitionKey
		if e.ExplicitHashKey != nil {
			k += "\x00" + *e.ExplicitHashKey
		}
		keys[i] = k
		// Report the key's hash, not the key: keys may hold row data.
		if j, dup := first[k]; dup {
			f.report(st, fmt.Errorf("%w: entries %d and %d of one PutRecords call to %s share partition key with hash %s",
				errKeyInFlight, j, i, st.name, HashKey(*e.PartitionKey)))
		} else if st.flying[k] > 0 {
			f.report(st, fmt.Errorf("%w: entry %d of a PutRecords call to %s has the partition key (hash %s) of an overlapping call",
				errKeyInFlight, i, st.name, HashKey(*e.PartitionKey)))
		}
		if _, dup := first[k]; !dup {
			first[k] = i
		}
		st.flying[k]++
	}
	return keys
}

// land ends the flight of keys registered by takeOff.
func (f *Fake) land(st *stream, keys []string) {
	if len(keys) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if st.flying[k]--; st.flying[k] == 0 {
			delete(st.flying, k)
		}
	}
}
