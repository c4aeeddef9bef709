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

	// Routing needs no stream state: hash the keys before taking the lock.
	hks := hashKeys(in.Records)

	// 1. Validate, count, and register the keys in flight.
	f.mu.Lock()
	st, err := f.validatePut(op, in, hks)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	fs := st.faults
	st.calls++
	call := st.calls
	if fs.CheckKeys {
		f.takeOff(st, call, in.Records)
		defer f.land(st, in.Records)
	}
	f.mu.Unlock()

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
	out := f.apply(st, fs, in.Records, hks)
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

// hashKeys routes each entry as Kinesis does: its ExplicitHashKey, else
// the MD5 of its partition key; ok is false for a bad ExplicitHashKey (or
// a missing partition key), which checkEntries then rejects.
func hashKeys(entries []types.PutRecordsRequestEntry) []routed {
	out := make([]routed, len(entries))
	for i, e := range entries {
		switch {
		case e.ExplicitHashKey != nil:
			out[i].k, out[i].ok = parseHashKey(*e.ExplicitHashKey)
		case e.PartitionKey != nil:
			out[i].k, out[i].ok = md5Key(*e.PartitionKey), true
		}
	}
	return out
}

// routed is an entry's hash key, computed once per call.
type routed struct {
	k  hashKey
	ok bool
}

// validatePut applies AWS's whole-request checks and counts the call.
func (f *Fake) validatePut(op string, in *kinesis.PutRecordsInput, hks []routed) (*stream, error) {
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
	if err := checkEntries(op, in.Records, hks, st.maxRecordBytes()); err != nil {
		st.stats.PutErrors++
		return nil, err
	}
	return st, nil
}

// checkEntries rejects the whole request for one bad entry, as AWS does.
// Messages name the entry, never its contents.
func checkEntries(op string, entries []types.PutRecordsRequestEntry, hks []routed, maxRecord int) error {
	total := 0
	for i, e := range entries {
		if e.PartitionKey == nil {
			return invalidArg(op, "Records[%d]: PartitionKey is required.", i)
		}
		if n := utf8.RuneCountInString(*e.PartitionKey); n < 1 || n > maxPartitionKey {
			return invalidArg(op, "Records[%d]: partition key has %d characters, must have 1..%d.", i, n, maxPartitionKey)
		}
		if e.ExplicitHashKey != nil && !hks[i].ok {
			return invalidArg(op, "Records[%d]: ExplicitHashKey must be a decimal in 0..2^128-1.", i)
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

// apply writes entries in request order and answers each. Per entry it
// allocates only what the SDK would hand a reader as its own: each written
// record's data (the one copy of the caller's bytes) and its sequence
// number. Sharing one allocation among the records of a call would let
// one record a reader keeps pin all of them, a memory profile no real
// reader has. The answer's pointers point into one []string per call.
func (f *Fake) apply(st *stream, fs Faults, entries []types.PutRecordsRequestEntry, hks []routed) *kinesis.PutRecordsOutput {
	now := f.now().Truncate(timeUnit)
	n := len(entries)
	out := &kinesis.PutRecordsOutput{
		Records:        make([]types.PutRecordsResultEntry, n),
		EncryptionType: types.EncryptionTypeNone,
	}
	// strs[2i] and strs[2i+1] answer entry i: ShardId and SequenceNumber,
	// or ErrorCode and ErrorMessage.
	strs := make([]string, 2*n)
	failed := int32(0)
	var seq [seqDigits]byte
	for i, e := range entries {
		s := st.openShardFor(hks[i].k)
		code, message := "", ""
		switch {
		case chance(st.putRand, fs.PutFailRate):
			code, message = codeThroughput, s.rateMsg
			if st.putRand.IntN(2) != 0 {
				code, message = codeInternal, "Internal service failure."
			}
		case fs.Limits && !s.limits.admitWrite(now, len(e.Data)+len(*e.PartitionKey)):
			code, message = codeThroughput, s.rateMsg
		}
		if code != "" {
			strs[2*i], strs[2*i+1] = code, message
			out.Records[i] = types.PutRecordsResultEntry{ErrorCode: &strs[2*i], ErrorMessage: &strs[2*i+1]}
			failed++
			continue
		}
		r := record{
			seq:     st.nextSeq(),
			key:     *e.PartitionKey,
			data:    append(make([]byte, 0, len(e.Data)), e.Data...),
			arrival: now,
		}
		r.seqStr = string(appendSeq(seq[:0], r.seq))
		if e.ExplicitHashKey != nil {
			r.ehk = *e.ExplicitHashKey
		}
		s.records = append(s.records, r)
		strs[2*i], strs[2*i+1] = s.id, r.seqStr
		out.Records[i] = types.PutRecordsResultEntry{ShardId: &strs[2*i], SequenceNumber: &strs[2*i+1]}
	}
	out.FailedRecordCount = &failed
	st.stats.FailedEntries += int(failed)
	st.stats.Written += n - int(failed)
	return out
}

// takeOff registers the partition keys of call as in flight and reports
// any already in flight; land ends their flight.
func (f *Fake) takeOff(st *stream, call int, entries []types.PutRecordsRequestEntry) {
	for i, e := range entries {
		k := flyKey{pk: *e.PartitionKey}
		if e.ExplicitHashKey != nil {
			k.ehk = *e.ExplicitHashKey
		}
		fl := st.flying[k]
		// Report the key's hash, not the key: keys may hold row data.
		switch {
		case fl.n > 0 && fl.call == call:
			f.report(st, fmt.Errorf("%w: entries %d and %d of one PutRecords call to %s share partition key with hash %s",
				errKeyInFlight, fl.idx, i, st.name, HashKey(*e.PartitionKey)))
		case fl.n > 0:
			f.report(st, fmt.Errorf("%w: entry %d of a PutRecords call to %s has the partition key (hash %s) of an overlapping call",
				errKeyInFlight, i, st.name, HashKey(*e.PartitionKey)))
		}
		if fl.call != call {
			fl.idx = i
		}
		fl.n++
		fl.call = call
		st.flying[k] = fl
	}
}

// land ends the flight of the keys takeOff registered for entries.
func (f *Fake) land(st *stream, entries []types.PutRecordsRequestEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range entries {
		k := flyKey{pk: *e.PartitionKey}
		if e.ExplicitHashKey != nil {
			k.ehk = *e.ExplicitHashKey
		}
		fl := st.flying[k]
		if fl.n--; fl.n <= 0 {
			delete(st.flying, k)
		} else {
			st.flying[k] = fl
		}
	}
}
