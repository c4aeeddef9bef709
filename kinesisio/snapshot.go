package kinesisio

import (
	"slices"
	"time"
)

// LatencyBucketsMs are the upper bounds of the latency histograms, in
// milliseconds.
var LatencyBucketsMs = []float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}

// Histogram counts observations per bucket of LatencyBucketsMs (the last
// count is above the last bound), with their sum.
type Histogram struct {
	Counts []uint64
	Sum    float64 // milliseconds
	Count  uint64
}

func (h *Histogram) observe(ms float64) {
	if h.Counts == nil {
		h.Counts = make([]uint64, len(LatencyBucketsMs)+1)
	}
	i, _ := slices.BinarySearch(LatencyBucketsMs, ms)
	h.Counts[i]++
	h.Sum += ms
	h.Count++
}

func (h Histogram) clone() Histogram {
	h.Counts = slices.Clone(h.Counts)
	return h
}

// ShardSnapshot is one source shard's state.
type ShardSnapshot struct {
	ID                 string
	Status             string
	MillisBehindLatest int64 // -1: not yet known
	OldestUnackedMs    int64 // age since source arrival of the oldest unacknowledged record
	LastAckAgeMs       int64 // source arrival → destination acknowledgement of the last record
	PendingRecords     int
	CheckpointSeq      string
	RecordsIn          int64
	RecordsOut         int64
	Invalid            int64
	DeadLettered       int64
}

// Snapshot is the relay's state for metrics and readiness, refreshed every
// checkpoint interval and at every lag line.
type Snapshot struct {
	At               time.Time
	Stats            Stats
	Shards           []ShardSnapshot
	BufferedRecords  int
	BufferedBytes    int
	InFlightCalls    int
	KeysWaiting      int
	BlockedByFences  int
	DestShards       int
	PutLatency       Histogram // per PutRecords call
	EndToEnd         Histogram // per record: source arrival → destination acknowledgement
	LastCheckpoint   time.Time // last checkpoint written
	LastPutOK        time.Time // last PutRecords call that wrote something
	Listed, Draining bool
}

// Snapshot returns the latest snapshot (zero before Run starts).
func (r *Relay) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap
	s.Shards = slices.Clone(s.Shards)
	s.PutLatency, s.EndToEnd = s.PutLatency.clone(), s.EndToEnd.clone()
	return s
}

// Ready reports whether the relay is reading and writing with a fresh
// checkpoint, and if not, why. It is what /readyz answers.
func (r *Relay) Ready(now time.Time) (bool, string) {
	s := r.Snapshot()
	switch {
	case s.At.IsZero() || !s.Listed:
		return false, "starting: source shards not listed yet"
	case s.Draining:
		return false, "draining"
	case now.Sub(s.At) > 3*r.cfg.CheckpointInterval+5*time.Second:
		return false, "relay loop has not reported for " + now.Sub(s.At).Round(time.Second).String()
	}
	for _, sh := range s.Shards {
		if sh.Status == shardStalled.String() {
			return false, "shard " + sh.ID + " is stalled on a record it cannot route"
		}
	}
	stale := 10*r.cfg.CheckpointInterval + 10*time.Second
	if s.BufferedRecords > 0 && now.Sub(s.LastPutOK) > stale && now.Sub(s.Stats.Started) > stale {
		return false, "no record written for " + now.Sub(s.LastPutOK).Round(time.Second).String()
	}
	last := s.LastCheckpoint
	if last.Before(s.Stats.Started) {
		last = s.Stats.Started // none written yet: count from the start
	}
	if s.Stats.RecordsOut > 0 && now.Sub(last) > stale {
		return false, "checkpoint not written for " + now.Sub(last).Round(time.Second).String()
	}
	return true, "ok"
}
