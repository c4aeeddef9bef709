package faultproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Kinesis operation names, as they follow "Kinesis_20131202." in X-Amz-Target.
const (
	OpPutRecords       = "PutRecords"
	OpPutRecord        = "PutRecord"
	OpGetRecords       = "GetRecords"
	OpGetShardIterator = "GetShardIterator"
	OpListShards       = "ListShards"
)

// Codes a PutRecords entry can fail with, as AWS spells them.
const (
	CodeThroughput = "ProvisionedThroughputExceededException"
	CodeInternal   = "InternalFailure"
)

// DefaultOps are the operations whole-call faults apply to when Faults.Ops
// is empty: the data plane a relay exercises.
var DefaultOps = []string{OpPutRecords, OpPutRecord, OpGetRecords}

// Faults are the failures injected on one stream (or, set for "", on every
// stream without its own). The zero value injects nothing. They compose,
// each in its own stage of a call, in this order:
//
// Any operation in Ops: Latency; then one draw picks at most one of
// throttle, error, reset or ambiguous (so their rates add up to at most 1).
//
// PutRecords, after that: per entry PutFailRate, then Limits on the
// entries left; the surviving entries are forwarded; an ambiguous call is
// answered after the forward (reset, or AmbiguousDelay late).
//
// PutRecord: Limits (the whole call is throttled), forward.
//
// GetRecords: Limits (whole call throttled); one draw picks
// ExpireIteratorRate or EmptyReadRate; forward.
type Faults struct {
	// PutFailRate is the fraction of PutRecords entries answered with an
	// ErrorCode and ErrorMessage instead of being forwarded; the call's
	// other entries are written. It applies whatever Ops says.
	PutFailRate float64

	// PutFailCode is the ErrorCode of those entries: CodeThroughput,
	// CodeInternal, or "" for either at random, as AWS mixes them.
	PutFailCode string

	// ThrottleRate is the fraction of calls answered HTTP 400
	// ProvisionedThroughputExceededException (LimitExceededException for
	// control-plane calls such as ListShards), nothing forwarded.
	ThrottleRate float64

	// ErrorRate is the fraction of calls answered HTTP 500 InternalFailure,
	// nothing forwarded.
	ErrorRate float64

	// ResetRate is the fraction of calls whose connection is reset (TCP
	// RST) with no response, nothing forwarded.
	ResetRate float64

	// AmbiguousRate is the fraction of calls forwarded (so written) whose
	// response is then lost: the connection is reset, or, if
	// AmbiguousDelay is set, the response is held that long (past the
	// client's timeout) before it is sent.
	AmbiguousRate float64

	// AmbiguousDelay, if positive, turns an ambiguous reset into a
	// response delayed this long; the wait ends early when the client
	// hangs up.
	AmbiguousDelay time.Duration

	// Latency delays every call in Ops before anything else happens; a
	// client that gives up meanwhile has had nothing forwarded.
	Latency time.Duration

	// Limits enforces AWS's per-shard limits with token buckets that burst
	// to one second's worth. Writes (PutRecords, PutRecord): 1000 records/s
	// and 1 MiB/s (data plus partition key) per shard; a PutRecords entry
	// over the limit fails alone with ProvisionedThroughputExceededException,
	// a PutRecord call fails whole. Reads (GetRecords): 5 calls/s and
	// 2 MiB/s per shard; a call over the limit fails whole with HTTP 400
	// ProvisionedThroughputExceededException. A large read puts the byte
	// bucket into debt, which throttles reads until repaid, as AWS does.
	// It applies whatever Ops says.
	Limits bool

	// ExpireIteratorRate is the fraction of GetRecords calls answered
	// HTTP 400 ExpiredIteratorException although the iterator is fresh.
	ExpireIteratorRate float64

	// EmptyReadRate is the fraction of GetRecords calls answered 200 with
	// no records, the same iterator as NextShardIterator and
	// MillisBehindLatest 0, nothing forwarded.
	EmptyReadRate float64

	// Ops are the operations Latency and the whole-call faults (throttle,
	// error, reset, ambiguous) apply to; empty means DefaultOps.
	Ops []string
}

// Validate reports every out-of-range field at once.
func (f Faults) Validate() error {
	var errs []error
	rate := func(name string, v float64) {
		if !(v >= 0 && v <= 1) { // also rejects NaN
			errs = append(errs, fmt.Errorf("%s %v: must be 0..1", name, v))
		}
	}
	rate("put_fail_rate", f.PutFailRate)
	rate("throttle_rate", f.ThrottleRate)
	rate("error_rate", f.ErrorRate)
	rate("reset_rate", f.ResetRate)
	rate("ambiguous_rate", f.AmbiguousRate)
	rate("expire_iterator_rate", f.ExpireIteratorRate)
	rate("empty_read_rate", f.EmptyReadRate)
	if s := f.ThrottleRate + f.ErrorRate + f.ResetRate + f.AmbiguousRate; s > 1 {
		errs = append(errs, fmt.Errorf("throttle_rate+error_rate+reset_rate+ambiguous_rate %v: must be at most 1", s))
	}
	if s := f.ExpireIteratorRate + f.EmptyReadRate; s > 1 {
		errs = append(errs, fmt.Errorf("expire_iterator_rate+empty_read_rate %v: must be at most 1", s))
	}
	switch f.PutFailCode {
	case "", CodeThroughput, CodeInternal:
	default:
		errs = append(errs, fmt.Errorf("put_fail_code %q: must be %q, %q or empty", f.PutFailCode, CodeThroughput, CodeInternal))
	}
	if f.AmbiguousDelay < 0 {
		errs = append(errs, fmt.Errorf("ambiguous_delay %v: must not be negative", f.AmbiguousDelay))
	}
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %v: must not be negative", f.Latency))
	}
	for _, op := range f.Ops {
		if op == "" {
			errs = append(errs, errors.New("ops: empty operation name"))
		}
	}
	return errors.Join(errs...)
}

// inScope says whether whole-call faults apply to op.
func (f *Faults) inScope(op string) bool {
	if len(f.Ops) == 0 {
		return slices.Contains(DefaultOps, op)
	}
	return slices.Contains(f.Ops, op)
}

// faultsJSON is Faults on the admin endpoint: snake_case names, durations
// as Go duration strings ("250ms").
type faultsJSON struct {
	PutFailRate        float64  `json:"put_fail_rate,omitempty"`
	PutFailCode        string   `json:"put_fail_code,omitempty"`
	ThrottleRate       float64  `json:"throttle_rate,omitempty"`
	ErrorRate          float64  `json:"error_rate,omitempty"`
	ResetRate          float64  `json:"reset_rate,omitempty"`
	AmbiguousRate      float64  `json:"ambiguous_rate,omitempty"`
	AmbiguousDelay     string   `json:"ambiguous_delay,omitempty"`
	Latency            string   `json:"latency,omitempty"`
	Limits             bool     `json:"limits,omitempty"`
	ExpireIteratorRate float64  `json:"expire_iterator_rate,omitempty"`
	EmptyReadRate      float64  `json:"empty_read_rate,omitempty"`
	Ops                []string `json:"ops,omitempty"`
}

// MarshalJSON writes the admin endpoint's form: snake_case names and
// durations as strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{
		PutFailRate:        f.PutFailRate,
		PutFailCode:        f.PutFailCode,
		ThrottleRate:       f.ThrottleRate,
		ErrorRate:          f.ErrorRate,
		ResetRate:          f.ResetRate,
		AmbiguousRate:      f.AmbiguousRate,
		Limits:             f.Limits,
		ExpireIteratorRate: f.ExpireIteratorRate,
		EmptyReadRate:      f.EmptyReadRate,
		Ops:                f.Ops,
	}
	if f.AmbiguousDelay != 0 {
		j.AmbiguousDelay = f.AmbiguousDelay.String()
	}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the admin endpoint's form and rejects unknown
// fields, so a misspelt fault fails loudly instead of injecting nothing.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out := Faults{
		PutFailRate:        j.PutFailRate,
		PutFailCode:        j.PutFailCode,
		ThrottleRate:       j.ThrottleRate,
		ErrorRate:          j.ErrorRate,
		ResetRate:          j.ResetRate,
		AmbiguousRate:      j.AmbiguousRate,
		Limits:             j.Limits,
		ExpireIteratorRate: j.ExpireIteratorRate,
		EmptyReadRate:      j.EmptyReadRate,
		Ops:                j.Ops,
	}
	var err error
	if j.AmbiguousDelay != "" {
		if out.AmbiguousDelay, err = time.ParseDuration(j.AmbiguousDelay); err != nil {
			return fmt.Errorf("ambiguous_delay: %w", err)
		}
	}
	if j.Latency != "" {
		if out.Latency, err = time.ParseDuration(j.Latency); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	*f = out
	return nil
}

// callFault is the whole-call fault drawn for one call.
type callFault int

const (
	callNone callFault = iota
	callThrottle
	callError
	callReset
	callAmbiguous
)

// pick maps one uniform draw u in [0,1) to at most one whole-call fault.
func (f *Faults) pick(u float64) callFault {
	switch {
	case u < f.ThrottleRate:
		return callThrottle
	case u < f.ThrottleRate+f.ErrorRate:
		return callError
	case u < f.ThrottleRate+f.ErrorRate+f.ResetRate:
		return callReset
	case u < f.ThrottleRate+f.ErrorRate+f.ResetRate+f.AmbiguousRate:
		return callAmbiguous
	}
	return callNone
}
