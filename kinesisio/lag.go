package kinesisio

import (
	"slices"
	"time"
)

// latencies keeps the PutRecords durations of one log interval (a bounded
// sample) for percentiles.
type latencies struct{ d []time.Duration }

const latencySamples = 4096

func (l *latencies) add(d time.Duration) {
	if len(l.d) < latencySamples {
		l.d = append(l.d, d)
	}
}

// take returns p50 and p99 and starts a new interval.
func (l *latencies) take() (p50, p99 time.Duration) {
	if len(l.d) == 0 {
		return 0, 0
	}
	slices.Sort(l.d)
	p50, p99 = l.d[len(l.d)/2], l.d[min(len(l.d)-1, len(l.d)*99/100)]
	l.d = l.d[:0]
	return p50, p99
}

// logLag writes one line per active source shard and one stream-wide
// summary. Field names are a documented interface (README "Lag lines").
func (l *loop) logLag() {
	secs := l.cfg.LogInterval.Seconds()
	now := time.Now().UnixNano()
	var maxBehind, maxOldest int64 = -1, 0
	var in, out, bytesIn, bytesOut int64
	reading := 0
	for _, s := range l.shards {
		in += s.in
		out += s.out
		bytesIn += s.bytesIn
		bytesOut += s.bytesOut
		if s.status == shardFinished || s.status == shardWaiting {
			continue
		}
		if s.status == shardReading {
			reading++
		}
		oldest := int64(0)
		if a, ok := s.wm.OldestPending(); ok {
			oldest = max(0, (now-a)/int64(time.Millisecond))
		}
		maxOldest = max(maxOldest, oldest)
		maxBehind = max(maxBehind, s.behind)
		seq, _ := s.wm.Committed()
		l.log.Info().Str("stream", l.cfg.Source).Str("shard_id", s.id).Str("status", s.status.String()).
			Float64("records_in_per_s", float64(s.in)/secs).
			Float64("records_out_per_s", float64(s.out)/secs).
			Float64("bytes_in_per_s", float64(s.bytesIn)/secs).
			Float64("bytes_out_per_s", float64(s.bytesOut)/secs).
			Int64("last_ack_age_ms", s.lastAckAge).
			Int64("millis_behind_latest", s.behind).
			Int64("oldest_unacked_ms", oldest).
			Int("pending_records", s.wm.Pending()).
			Int64("retries", s.retries).Int64("throttles", s.throttles).Int64("invalid", s.invalid).
			Int64("dead_lettered", s.dlq).Int64("pk_changes", s.pkChanges).
			Str("checkpoint_seq", seq).
			Msg("lag")
		s.in, s.out, s.retries, s.throttles, s.invalid, s.dlq, s.pkChanges = 0, 0, 0, 0, 0, 0, 0
		s.bytesIn, s.bytesOut = 0, 0
	}
	p50, p99 := l.putLat.take()
	rec, bytes := l.sched.Buffered()
	if l.dlq != nil {
		r2, b2 := l.dlq.Buffered()
		rec, bytes = rec+r2, bytes+b2
	}
	t := &l.totals
	l.log.Info().Str("stream", l.cfg.Source).Str("dest", l.cfg.Dest).
		Int64("max_millis_behind_latest", maxBehind).Int64("max_oldest_unacked_ms", maxOldest).
		Float64("records_in_per_s", float64(in)/secs).Float64("records_out_per_s", float64(out)/secs).
		Float64("bytes_in_per_s", float64(bytesIn)/secs).Float64("bytes_out_per_s", float64(bytesOut)/secs).
		Int("buffered_records", rec).Int("buffered_bytes", bytes).
		Int("in_flight_calls", l.cfg.MaxInFlight-l.idle).Int("keys_waiting", l.sched.Keys()).
		Int64("put_p50_ms", p50.Milliseconds()).Int64("put_p99_ms", p99.Milliseconds()).
		Int("shards_reading", reading).
		Int64("total_records_in", t.RecordsIn).Int64("total_records_out", t.RecordsOut).
		Int64("total_invalid", t.Invalid).Int64("total_table_key_fallbacks", t.Fallback).
		Int64("total_pk_changes", t.PKChanges).
		Int64("total_dead_lettered", t.DeadLettered).Int64("expired_checkpoints", t.ExpiredCheckpoints+l.expiredByReaders.Load()).
		Int64("total_fences", t.Fences).Int64("total_resends", t.Resends).
		Int("dest_shards", len(l.laneStarts)).Int("blocked_by_fences", l.sched.Blocked()).
		Int64("total_retries", t.Retries).Int64("total_throttles", t.Throttles).
		Int("batch_records", l.batchRecords).Int64("total_batch_shrinks", t.BatchShrinks).
		Msg("lag_summary")
	l.publish()
}

// publish copies the loop's totals to the Relay's Stats.
func (l *loop) publish() {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	s := &l.r.stats
	t := l.totals
	s.RecordsIn, s.RecordsOut, s.BytesIn, s.BytesOut = t.RecordsIn, t.RecordsOut, t.BytesIn, t.BytesOut
	s.Invalid, s.Fallback, s.PKChanges = t.Invalid, t.Fallback, t.PKChanges
	s.Fences, s.Resends, s.DeadLettered = t.Fences, t.Resends, t.DeadLettered
	s.ExpiredCheckpoints = t.ExpiredCheckpoints + l.expiredByReaders.Load()
	s.Retries, s.Throttles, s.AmbiguousCalls, s.Puts = t.Retries, t.Throttles, t.AmbiguousCalls, t.Puts
	s.BatchShrinks = t.BatchShrinks
	s.FirstIn, s.LastOut = t.FirstIn, t.LastOut
	s.ShardsRead, s.ShardsDone = 0, 0
	now := time.Now()
	snap := &l.r.snap
	snap.At, snap.Listed, snap.Draining = now, l.listedYet, l.draining
	snap.Shards = snap.Shards[:0]
	for _, sh := range l.shards {
		switch sh.status {
		case shardReading, shardReadEnd, shardStalled:
			s.ShardsRead++
		case shardFinished:
			s.ShardsDone++
		}
		oldest := int64(0)
		if a, ok := sh.wm.OldestPending(); ok {
			oldest = max(0, (now.UnixNano()-a)/int64(time.Millisecond))
		}
		seq, _ := sh.wm.Committed()
		snap.Shards = append(snap.Shards, ShardSnapshot{
			ID: sh.id, Status: sh.status.String(), MillisBehindLatest: sh.behind,
			OldestUnackedMs: oldest, LastAckAgeMs: sh.lastAckAge, PendingRecords: sh.wm.Pending(),
			CheckpointSeq: seq, RecordsIn: sh.totalIn, RecordsOut: sh.totalOut,
			Invalid: sh.totalInvalid, DeadLettered: sh.totalDLQ,
		})
	}
	snap.Stats = *s
	snap.BufferedRecords, snap.BufferedBytes = l.sched.Buffered()
	if l.dlq != nil {
		r2, b2 := l.dlq.Buffered()
		snap.BufferedRecords, snap.BufferedBytes = snap.BufferedRecords+r2, snap.BufferedBytes+b2
	}
	snap.InFlightCalls = l.cfg.MaxInFlight - l.idle
	snap.KeysWaiting, snap.BlockedByFences, snap.DestShards = l.sched.Keys(), l.sched.Blocked(), len(l.laneStarts)
	snap.PutLatency, snap.EndToEnd = l.putHist.clone(), l.e2eHist.clone()
	snap.LastCheckpoint, snap.LastPutOK = time.Unix(0, l.savedAt.Load()), l.lastPutOK
}

func (s shardStatus) String() string {
	switch s {
	case shardWaiting:
		return "waiting"
	case shardReading:
		return "reading"
	case shardReadEnd:
		return "read_to_end"
	case shardFinished:
		return "finished"
	case shardStalled:
		return "stalled"
	}
	return "unknown"
}
