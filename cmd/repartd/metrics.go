package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/repartd/repartd/kinesisio"
)

// relayCollector exports the relay's snapshot on every scrape. It reads a
// copy the relay refreshes each checkpoint interval, so scrapes never touch
// the per-record path. Names are documented in the README ("Metrics").
type relayCollector struct {
	relay  *kinesisio.Relay
	source string
	dest   string
	descs  map[string]*prometheus.Desc
}

func newRelayCollector(r *kinesisio.Relay, source, dest string) *relayCollector {
	c := &relayCollector{relay: r, source: source, dest: dest, descs: map[string]*prometheus.Desc{}}
	stream := prometheus.Labels{"source": source, "dest": dest}
	d := func(name, help string, labels ...string) {
		c.descs[name] = prometheus.NewDesc("repartd_"+name, help, labels, stream)
	}
	// per source shard
	d("millis_behind_latest", "MillisBehindLatest of the shard's last GetRecords (-1: not yet known).", "shard_id")
	d("oldest_unacked_age_seconds", "Age since source arrival of the shard's oldest record not yet acknowledged by the destination.", "shard_id")
	d("last_ack_age_seconds", "Source arrival to destination acknowledgement of the shard's last acknowledged record.", "shard_id")
	d("shard_pending_records", "Records of the shard read and not yet covered by its checkpoint watermark.", "shard_id")
	d("shard_records_in_total", "Records read from the shard.", "shard_id")
	d("shard_records_out_total", "Records of the shard acknowledged by the destination.", "shard_id")
	d("shard_invalid_records_total", "Invalid records read from the shard.", "shard_id")
	d("shard_dead_lettered_total", "Records of the shard sent to the dead-letter stream.", "shard_id")
	d("shard_status", "1 for the shard's current status.", "shard_id", "status")
	// stream-wide
	d("records_in_total", "Records read from the source.")
	d("records_out_total", "Records acknowledged by the destination.")
	d("bytes_in_total", "Payload bytes read from the source.")
	d("bytes_out_total", "Payload bytes acknowledged by the destination.")
	d("retries_total", "Entries sent again after a failure (not throttling).")
	d("throttles_total", "Entries throttled by the destination.")
	d("ambiguous_calls_total", "PutRecords calls whose outcome was unknown (timeout, reset, 5xx); their records were re-sent.")
	d("put_calls_total", "PutRecords calls settled.")
	d("invalid_records_total", "Invalid records (forwarded, dead-lettered or stopping their shard).")
	d("dead_lettered_total", "Records sent to the dead-letter stream.")
	d("table_key_fallbacks_total", "Data records routed by the table-level key (no key columns known).")
	d("pk_changes_total", "Updates whose before-image key differs from data's.")
	d("fences_total", "Control records written as fences (one copy per destination shard).")
	d("resends_total", "Replay mode: records written and sent again after an earlier record of their key failed.")
	d("expired_checkpoints_total", "Checkpoints found aged out of the source's retention.")
	d("checkpoints_total", "Checkpoints written.")
	d("buffered_records", "Records read and not yet acknowledged (memory bound: --max-buffered-records).")
	d("buffered_bytes", "Bytes of records read and not yet acknowledged.")
	d("in_flight_calls", "PutRecords calls in flight.")
	d("keys_waiting", "Keys with records not yet acknowledged.")
	d("blocked_by_fences", "Records waiting behind a DDL fence.")
	d("dest_shards", "Open destination shards (lanes).")
	d("checkpoint_age_seconds", "Time since the checkpoint was last written (or found unchanged).")
	d("put_latency_seconds", "PutRecords call latency.")
	d("end_to_end_latency_seconds", "Source arrival to destination acknowledgement, per record.")
	return c
}

func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.relay.Snapshot()
	if s.At.IsZero() {
		return
	}
	g := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	n := func(name string, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	for _, sh := range s.Shards {
		g("millis_behind_latest", float64(sh.MillisBehindLatest), sh.ID)
		g("oldest_unacked_age_seconds", float64(sh.OldestUnackedMs)/1000, sh.ID)
		g("last_ack_age_seconds", float64(sh.LastAckAgeMs)/1000, sh.ID)
		g("shard_pending_records", float64(sh.PendingRecords), sh.ID)
		n("shard_records_in_total", sh.RecordsIn, sh.ID)
		n("shard_records_out_total", sh.RecordsOut, sh.ID)
		n("shard_invalid_records_total", sh.Invalid, sh.ID)
		n("shard_dead_lettered_total", sh.DeadLettered, sh.ID)
		g("shard_status", 1, sh.ID, sh.Status)
	}
	t := s.Stats
	n("records_in_total", t.RecordsIn)
	n("records_out_total", t.RecordsOut)
	n("bytes_in_total", t.BytesIn)
	n("bytes_out_total", t.BytesOut)
	n("retries_total", t.Retries)
	n("throttles_total", t.Throttles)
	n("ambiguous_calls_total", t.AmbiguousCalls)
	n("put_calls_total", t.Puts)
	n("invalid_records_total", t.Invalid)
	n("dead_lettered_total", t.DeadLettered)
	n("table_key_fallbacks_total", t.Fallback)
	n("pk_changes_total", t.PKChanges)
	n("fences_total", t.Fences)
	n("resends_total", t.Resends)
	n("expired_checkpoints_total", t.ExpiredCheckpoints)
	n("checkpoints_total", t.Checkpoints)
	g("buffered_records", float64(s.BufferedRecords))
	g("buffered_bytes", float64(s.BufferedBytes))
	g("in_flight_calls", float64(s.InFlightCalls))
	g("keys_waiting", float64(s.KeysWaiting))
	g("blocked_by_fences", float64(s.BlockedByFences))
	g("dest_shards", float64(s.DestShards))
	if !s.LastCheckpoint.IsZero() && s.LastCheckpoint.Unix() > 0 {
		g("checkpoint_age_seconds", time.Since(s.LastCheckpoint).Seconds())
	}
	c.histogram(ch, "put_latency_seconds", s.PutLatency)
	c.histogram(ch, "end_to_end_latency_seconds", s.EndToEnd)
}

func (c *relayCollector) histogram(ch chan<- prometheus.Metric, name string, h kinesisio.Histogram) {
	buckets := make(map[float64]uint64, len(kinesisio.LatencyBucketsMs))
	var cum uint64
	for i, bound := range kinesisio.LatencyBucketsMs {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[bound/1000] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.descs[name], h.Count, h.Sum/1000, buckets)
}

// serveMetrics serves /metrics, /healthz (the process is alive) and /readyz
// (reading and writing, checkpoint fresh) on addr until stop is called, and
// returns the address it listens on. An empty addr serves nothing.
func serveMetrics(addr string, relay *kinesisio.Relay, source, dest string) (bound string, stop func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newRelayCollector(relay, source, dest),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := relay.Ready(time.Now())
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics-addr %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { // ends when srv is shut down by stop
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // listener closed under us: stop() reports nothing more useful
		}
	}()
	return ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}
