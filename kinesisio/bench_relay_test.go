package kinesisio_test

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"

	"github.com/repartd/repartd/bench/loadgen"
	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

// BenchmarkRelay is target 2 of the performance issue: the whole relay
// (readers, loop, scheduler, writers, watermarks, checkpoints) in one
// process against the in-process fake, which answers every PutRecords
// after a realistic 20 ms, with and without 30% of entries failed. It
// reports the relay's records/s (first record read to last acknowledged)
// and the process's CPU-seconds per 1M records, fake included: the fake
// costs a few allocations per call, so the figure is the relay's. Each
// iteration relays n DMS rows (600,000 uniform: a short run measures the
// retry tail of its last records more than the relay's rate: at 30% of
// entries failed, the unluckiest wait ~10 round trips plus backoff, a
// fixed ~0.5 s that halved the figure of a 200,000-record run; 200,000
// for the hot row, capped by its round trips) from 8 source shards (keyed by
// table, as DMS does with PartitionIncludeSchemaTable, one table per
// shard) to 16 destination shards, is bounded by relayBound, and in strict
// mode ends with an order check of the destination (checkOrder). One
// source shard alone is capped by its reads: 10,000 records per
// GetRecords at 5 calls/s is 50,000 records/s, so 8 cap it at 400,000.
//
//	go test -run '^$' -bench 'Relay/uniform' -benchmem -count 6 ./kinesisio/
func BenchmarkRelay(b *testing.B) {
	for _, tc := range []struct {
		name     string
		records  int
		latency  time.Duration
		fail     float64
		hotShare float64
		ordering string
	}{
		{"uniform/latency20ms", 600_000, 20 * time.Millisecond, 0, 0, kinesisio.OrderingStrict},
		{"uniform/latency20ms_fail30", 600_000, 20 * time.Millisecond, 0.3, 0, kinesisio.OrderingStrict},
		// 1% of changes on one row: strict order caps it at (1/20 ms)/1% = 5,000 records/s.
		{"hot1pct/strict", 200_000, 20 * time.Millisecond, 0, 0.01, kinesisio.OrderingStrict},
		{"hot1pct/replay", 200_000, 20 * time.Millisecond, 0, 0.01, kinesisio.OrderingReplay},
	} {
		b.Run(tc.name, func(b *testing.B) { benchRelay(b, tc.records, tc.latency, tc.fail, tc.hotShare, tc.ordering) })
	}
}

const (
	relayTables = 8
	// relayBound stops an iteration that stalls: at 5,000 records/s (the
	// hot-row case) 200,000 records take 40 s.
	relayBound = 2 * time.Minute
)

func benchRelay(b *testing.B, relayRecords int, latency time.Duration, fail, hotShare float64, ordering string) {
	lc := loadgen.DefaultConfig()
	lc.Rows, lc.HotShare, lc.Tables = 100_000, hotShare, relayTables
	g, err := loadgen.New(lc)
	if err != nil {
		b.Fatal(err)
	}
	// Each table on its own source shard (ExplicitHashKey: the shard's
	// first hash key): keyed by MD5 alone, 8 tables land on 5 of the 8
	// shards and the busiest shard's reads (50,000 records/s) cap the run
	// below what the relay can do.
	ehk := map[string]*string{}
	var entries []types.PutRecordsRequestEntry
	for range relayRecords {
		r := g.Next()
		if ehk[r.Table] == nil {
			ehk[r.Table] = aws.String(shardStart(len(ehk), 8))
		}
		entries = append(entries, types.PutRecordsRequestEntry{Data: slices.Clone(r.Data), PartitionKey: aws.String(r.Table), ExplicitHashKey: ehk[r.Table]})
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(entries[100].Data)))
	var busy time.Duration
	var cpu float64
	for b.Loop() {
		b.StopTimer()
		fake := kinesistest.New(kinesistest.WithSeed(1))
		_ = fake.CreateStream(srcStream, 8)
		_ = fake.CreateStream(dstStream, 16)
		for i := 0; i < len(entries); i += 500 {
			if _, err := fake.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(srcStream), Records: entries[i:min(i+500, len(entries))]}); err != nil {
				b.Fatal(err)
			}
		}
		// CheckKeys: the fake fails the benchmark if a key is ever in
		// flight twice (strict mode's promise).
		_ = fake.SetFaults(dstStream, kinesistest.Faults{PutLatency: latency, PutFailRate: fail, CheckKeys: ordering == kinesisio.OrderingStrict})
		cfg := kinesisio.DefaultConfig()
		cfg.Source, cfg.Dest, cfg.Ordering = srcStream, dstStream, ordering
		cfg.StopWhenIdle = 50 * time.Millisecond
		cfg.MaxInFlight = 64
		cfg.MaxBufferedRecords = 100_000
		cfg.MaxBufferedBytes = 128 << 20
		cfg.ShardRecordsPerSec, cfg.ShardBytesPerSec = 0, 0 // the fake does not limit; measure the relay
		cfg.RetryBase, cfg.RetryMax = 5*time.Millisecond, 50*time.Millisecond
		r, err := kinesisio.NewRelay(cfg, fake, fake, &kinesisio.MemStore{}, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), relayBound)
		cpu0 := processCPU()
		b.StartTimer()
		err = r.Run(ctx)
		b.StopTimer()
		cpu += processCPU() - cpu0
		cancel()
		if err != nil {
			b.Fatalf("relay (bound %s): %v", relayBound, err)
		}
		st := r.Stats()
		busy += st.LastOut.Sub(st.FirstIn)
		if st.RecordsIn != int64(relayRecords) {
			b.Fatalf("%d records in, want %d", st.RecordsIn, relayRecords)
		}
		if n := fake.StreamStats(dstStream).KeyConflicts; n > 0 {
			b.Fatalf("a partition key was in flight twice %d times", n)
		}
		if ordering == kinesisio.OrderingStrict {
			if err := checkOrder(fake, relayRecords-relayTables); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(relayRecords*b.N)/busy.Seconds(), "records/s")
	b.ReportMetric(cpu/float64(relayRecords*b.N)*1e6, "cpu-s/1M")
}

// shardStart is the first hash key of shard i of n, as CreateStream
// splits the key space: i*2^128/n, in decimal.
func shardStart(i, n int) string {
	b := new(big.Int).Lsh(big.NewInt(int64(i)), 128)
	return b.Div(b, big.NewInt(int64(n))).String()
}

// processCPU is the process's user + system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// checkOrder reads the destination back, consuming it, and checks strict
// mode's promise: every data record arrived, and each row's records first
// arrived in source order. A row is its destination partition key (the
// routing key, from schema, table and primary key); its records all land
// on one shard, in write order. Source order is loadgen's transaction-id,
// which grows with every record, and a table's records share a source
// shard, so a row's source order is increasing transaction-ids. A repeated
// transaction-id is a duplicate (a resend), not a violation.
func checkOrder(fake *kinesistest.Fake, dataRecords int) error {
	last := map[string]int64{}
	seen := make(map[int64]bool, dataRecords)
	var violations, dups, unparsed int
	_, err := fake.DiscardRecords(dstStream, func(_, pk string, data []byte) {
		if bytes.HasPrefix(data, []byte(`{"control"`)) {
			return // a DDL copy, one per destination shard
		}
		txn, ok := loadgen.TransactionID(data)
		switch {
		case !ok:
			unparsed++
		case seen[txn]:
			dups++
		default:
			seen[txn] = true
			if prev, ok := last[pk]; ok && txn < prev {
				violations++
			}
			last[pk] = txn
		}
	})
	switch {
	case err != nil:
		return err
	case violations > 0 || unparsed > 0 || len(seen) != dataRecords:
		return fmt.Errorf("destination order check: %d first-occurrence order violations, %d missing, %d records without a transaction-id, %d duplicates",
			violations, dataRecords-len(seen), unparsed, dups)
	}
	return nil
}
