package kinesisio_test

import (
	"context"
	"slices"
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

// BenchmarkRelay runs the whole relay (readers, loop, scheduler, writers,
// watermarks, checkpoints) against the in-process fake with a realistic 20
// ms PutRecords latency, and reports records/s. Each iteration relays
// relayRecords DMS rows from 8 source shards (keyed by table, as DMS does
// with PartitionIncludeSchemaTable) to 16 destination shards. One source
// shard alone is capped by its reads: 10,000 records per GetRecords at
// 5 calls/s is 50,000 records/s.
//
//	go test -run '^$' -bench Relay -benchmem -count 5 ./kinesisio/
func BenchmarkRelay(b *testing.B) {
	for _, tc := range []struct {
		name     string
		latency  time.Duration
		fail     float64
		hotShare float64
		ordering string
	}{
		{"uniform/latency20ms", 20 * time.Millisecond, 0, 0, kinesisio.OrderingStrict},
		{"uniform/latency20ms_fail30", 20 * time.Millisecond, 0.3, 0, kinesisio.OrderingStrict},
		// 1% of changes on one row: strict order caps it at (1/20 ms)/1% = 5,000 records/s.
		{"hot1pct/strict", 20 * time.Millisecond, 0, 0.01, kinesisio.OrderingStrict},
		{"hot1pct/replay", 20 * time.Millisecond, 0, 0.01, kinesisio.OrderingReplay},
	} {
		b.Run(tc.name, func(b *testing.B) { benchRelay(b, tc.latency, tc.fail, tc.hotShare, tc.ordering) })
	}
}

const relayRecords = 200_000

func benchRelay(b *testing.B, latency time.Duration, fail, hotShare float64, ordering string) {
	lc := loadgen.DefaultConfig()
	lc.Rows, lc.HotShare, lc.Tables = 100_000, hotShare, 8
	g, err := loadgen.New(lc)
	if err != nil {
		b.Fatal(err)
	}
	var entries []types.PutRecordsRequestEntry
	for range relayRecords {
		r := g.Next()
		entries = append(entries, types.PutRecordsRequestEntry{Data: slices.Clone(r.Data), PartitionKey: aws.String(r.Table)})
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(entries[100].Data)))
	var total time.Duration
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
		_ = fake.SetFaults(dstStream, kinesistest.Faults{PutLatency: latency, PutFailRate: fail})
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
		b.StartTimer()
		if err := r.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		st := r.Stats()
		total += st.LastOut.Sub(st.FirstIn)
		if st.RecordsOut != relayRecords {
			b.Fatalf("%d records out", st.RecordsOut)
		}
	}
	b.ReportMetric(float64(relayRecords*b.N)/total.Seconds(), "records/s")
}
