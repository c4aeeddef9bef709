package faultproxy

import (
	"maps"
	"sync"
)

// OpStats counts what the proxy did to the calls of one operation.
type OpStats struct {
	// Requests counts calls received.
	Requests int64 `json:"requests"`
	// Forwarded counts calls sent upstream (ambiguous ones included).
	Forwarded int64 `json:"forwarded"`
	// Entries counts PutRecords entries received.
	Entries int64 `json:"entries,omitempty"`
	// EntriesFailed counts PutRecords entries failed by PutFailRate, by
	// ErrorCode.
	EntriesFailed map[string]int64 `json:"entries_failed,omitempty"`
	// EntriesLimited counts PutRecords entries failed by per-shard limits
	// (ErrorCode ProvisionedThroughputExceededException).
	EntriesLimited int64 `json:"entries_limited,omitempty"`
	// Throttled counts calls answered with an injected whole-call throttle.
	Throttled int64 `json:"throttled,omitempty"`
	// LimitedCalls counts calls throttled whole by per-shard limits
	// (GetRecords, PutRecord).
	LimitedCalls int64 `json:"limited_calls,omitempty"`
	// Errors counts calls answered HTTP 500 InternalFailure.
	Errors int64 `json:"errors,omitempty"`
	// Resets counts calls whose connection was reset unforwarded.
	Resets int64 `json:"resets,omitempty"`
	// Ambiguous counts calls forwarded whose response was then lost or
	// delayed.
	Ambiguous int64 `json:"ambiguous,omitempty"`
	// Delayed counts calls held by Latency.
	Delayed int64 `json:"delayed,omitempty"`
	// ExpiredIterators counts GetRecords calls answered
	// ExpiredIteratorException.
	ExpiredIterators int64 `json:"expired_iterators,omitempty"`
	// EmptyReads counts GetRecords calls answered with no records.
	EmptyReads int64 `json:"empty_reads,omitempty"`
	// StreamNamesAdded counts StreamARN-only requests given a StreamName.
	StreamNamesAdded int64 `json:"stream_names_added,omitempty"`
	// UpstreamErrors counts calls the upstream could not answer (answered
	// HTTP 502 by the proxy).
	UpstreamErrors int64 `json:"upstream_errors,omitempty"`
}

// Stats are the proxy's counters, per operation name ("PutRecords";
// "DynamoDB" for calls routed to DynamoUpstream).
type Stats struct {
	// Seed is the proxy's seed, to repeat the run.
	Seed uint64             `json:"seed"`
	Ops  map[string]OpStats `json:"ops"`
}

// Op returns the counters of op (zero if it was never called).
func (s Stats) Op(op string) OpStats { return s.Ops[op] }

// stats is the live, locked form of Stats.
type stats struct {
	mu  sync.Mutex
	ops map[string]*OpStats
}

// add applies f to op's counters under the lock.
func (s *stats) add(op string, f func(*OpStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops == nil {
		s.ops = make(map[string]*OpStats)
	}
	o := s.ops[op]
	if o == nil {
		o = &OpStats{}
		s.ops[op] = o
	}
	f(o)
}

// snapshot deep-copies the counters.
func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Ops: make(map[string]OpStats, len(s.ops))}
	for op, o := range s.ops {
		c := *o
		c.EntriesFailed = maps.Clone(o.EntriesFailed)
		out.Ops[op] = c
	}
	return out
}

func (s *stats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = nil
}
