package kinesisio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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

const (
	srcStream = "dms-cdc"
	dstStream = "dms-cdc-wide"
)

// fixture is a fake Kinesis with a one-shard source holding DMS-shaped
// records and an empty destination.
type fixture struct {
	t    *testing.T
	fake *kinesistest.Fake
	logs *syncBuffer
}

func newFixture(t *testing.T, dstShards int, seed int64) *fixture {
	t.Helper()
	f := &fixture{t: t, fake: kinesistest.New(kinesistest.WithSeed(seed), kinesistest.WithT(t)), logs: &syncBuffer{}}
	must(t, f.fake.CreateStream(srcStream, 1))
	must(t, f.fake.CreateStream(dstStream, dstShards))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fake seed %d; last log lines:\n%s", f.fake.Seed(), tailLines(f.logs.String(), 20))
		}
	})
	return f
}

// load writes n generated records to the source under one partition key.
func (f *fixture) load(n int, cfg loadgen.Config) {
	f.t.Helper()
	g, err := loadgen.New(cfg)
	must(f.t, err)
	var entries []types.PutRecordsRequestEntry
	for range n {
		entries = append(entries, types.PutRecordsRequestEntry{Data: slices.Clone(g.Next().Data), PartitionKey: aws.String("LOADTASK")})
	}
	f.putRaw(entries)
}

func (f *fixture) putRaw(entries []types.PutRecordsRequestEntry) {
	f.t.Helper()
	for len(entries) > 0 {
		n := min(len(entries), 500)
		out, err := f.fake.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(srcStream), Records: entries[:n]})
		must(f.t, err)
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			f.t.Fatal("source put failed: set faults after loading")
		}
		entries = entries[n:]
	}
}

func (f *fixture) config() kinesisio.Config {
	cfg := kinesisio.DefaultConfig()
	cfg.Source, cfg.Dest = srcStream, dstStream
	cfg.RetryBase, cfg.RetryMax = time.Millisecond, 20*time.Millisecond
	cfg.StopWhenIdle = 300 * time.Millisecond
	cfg.LogInterval = 200 * time.Millisecond
	cfg.CheckpointInterval = 50 * time.Millisecond
	cfg.PutTimeout = time.Second
	return cfg
}

func (f *fixture) relay(cfg kinesisio.Config, store kinesisio.Store) *kinesisio.Relay {
	f.t.Helper()
	log := zerolog.New(f.logs).With().Timestamp().Logger()
	r, err := kinesisio.NewRelay(cfg, f.fake, f.fake, store, log)
	must(f.t, err)
	return r
}

func (f *fixture) run(cfg kinesisio.Config, store kinesisio.Store) kinesisio.Stats {
	f.t.Helper()
	r := f.relay(cfg, store)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		f.t.Fatalf("relay: %v", err)
	}
	return r.Stats()
}

// history checks the destination against the source without using
// repartd's code: each row's identity is read with encoding/json. It
// returns the duplicate count and fails on loss, strangers, or a row
// whose changes first arrive out of source order.
func (f *fixture) history() (dups int) {
	f.t.Helper()
	src := f.fake.Records(srcStream)
	dst := f.fake.Records(dstStream)
	slices.SortFunc(dst, func(a, b kinesistest.StoredRecord) int { return strings.Compare(a.SequenceNumber, b.SequenceNumber) })
	type pos struct {
		row string
		i   int
	}
	where := map[string]pos{} // payload -> row, index among the row's records
	perRow := map[string]int{}
	for _, r := range src {
		row := rowOf(r.Data)
		if _, dup := where[string(r.Data)]; dup {
			f.t.Fatalf("test bug: two identical source payloads")
		}
		where[string(r.Data)] = pos{row, perRow[row]}
		perRow[row]++
	}
	seen := map[string]bool{}
	last := map[string]int{}
	for _, r := range dst {
		p, ok := where[string(r.Data)]
		if !ok {
			f.t.Fatalf("destination holds a record that is not from the source (seq %s)", r.SequenceNumber)
		}
		if seen[string(r.Data)] {
			dups++
			continue
		}
		seen[string(r.Data)] = true
		if l, ok := last[p.row]; ok && p.i < l {
			f.t.Fatalf("row %s: change %d first arrived after change %d", p.row, p.i, l)
		}
		last[p.row] = p.i
	}
	if len(seen) != len(src) {
		f.t.Fatalf("%d of %d source records reached the destination", len(seen), len(src))
	}
	return dups
}

// rowOf names the row a DMS record changes, or the stream position class
// of records without one.
func rowOf(data []byte) string {
	var m struct {
		Data     map[string]json.RawMessage `json:"data"`
		Metadata struct {
			Table string `json:"table-name"`
			Type  string `json:"record-type"`
		} `json:"metadata"`
	}
	if json.Unmarshal(data, &m) != nil || m.Metadata.Type == "" {
		return "invalid"
	}
	if m.Metadata.Type == "control" {
		return "control:" + m.Metadata.Table
	}
	return m.Metadata.Table + "/" + string(m.Data["id"])
}

func TestRelay_RowOrderUnderPartialFailuresThrottlingAndAmbiguousWrites(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			f := newFixture(t, 16, seed)
			cfg := loadgen.DefaultConfig()
			cfg.Rows, cfg.Zipf, cfg.Seed = 500, 1.2, uint64(seed)
			f.load(12000, cfg)
			must(t, f.fake.SetFaults(dstStream, kinesistest.Faults{
				PutFailRate: 0.3, ThrottleRate: 0.05, AmbiguousRate: 0.05, CheckKeys: true,
			}))
			st := f.run(f.config(), &kinesisio.MemStore{})
			dups := f.history()
			fs := f.fake.StreamStats(dstStream)
			t.Logf("records %d, puts %d, failed entries %d, ambiguous calls %d, throttled calls %d, duplicates %d",
				st.RecordsOut, fs.PutCalls, fs.FailedEntries, fs.Ambiguous, fs.Throttles, dups)
			if fs.FailedEntries == 0 || fs.Ambiguous == 0 {
				t.Fatal("faults were not injected")
			}
			if fs.KeyConflicts != 0 {
				t.Fatalf("%d times a key was in flight twice", fs.KeyConflicts)
			}
			if dups > int(fs.Ambiguous)*500 {
				t.Fatalf("%d duplicates from %d ambiguous calls", dups, fs.Ambiguous)
			}
		})
	}
}

func TestRelay_DrainThenResumeSendsNoDuplicates(t *testing.T) {
	f := newFixture(t, 4, 1)
	f.load(6000, loadgen.DefaultConfig())
	store := &kinesisio.MemStore{}
	cfg := f.config()
	cfg.StopWhenIdle = 0
	must(t, f.fake.SetFaults(dstStream, kinesistest.Faults{PutLatency: 5 * time.Millisecond}))
	r := f.relay(cfg, store)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for r.Stats().RecordsIn == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	r.Drain()
	must(t, <-done)
	first := len(f.fake.Records(dstStream))
	cp, _, _ := store.Load(ctx)
	if first == 0 || len(cp.Shards) != 1 {
		t.Fatalf("after drain: %d records written, checkpoint %+v", first, cp)
	}
	// Add more, resume from the checkpoint.
	g, _ := loadgen.New(loadgen.Config{Schema: "shop", Tables: 4, Rows: 1000, HotShare: 0.01, Seed: 99})
	var more []types.PutRecordsRequestEntry
	for range 2000 {
		more = append(more, types.PutRecordsRequestEntry{Data: slices.Clone(g.Next().Data), PartitionKey: aws.String("LOADTASK")})
	}
	f.putRaw(more[4:]) // skip its create-table records: the learned keys must come from the checkpoint
	f.run(f.config(), store)
	if dups := f.history(); dups != 0 {
		t.Fatalf("%d duplicates across a drain and resume", dups)
	}
}

func TestRelay_LearnedKeysSurviveRestart(t *testing.T) {
	f := newFixture(t, 8, 1)
	f.load(1000, loadgen.DefaultConfig()) // create-table records first
	store := &kinesisio.MemStore{}
	f.run(f.config(), store)
	cp, _, _ := store.Load(context.Background())
	if len(cp.Learned) != 4 {
		t.Fatalf("checkpoint learned %d tables, want 4: %+v", len(cp.Learned), cp.Learned)
	}
	// New rows of a learned table, without any create-table in reach.
	row := `{"data":{"id":424242,"status":"NEW"},"metadata":{"record-type":"data","operation":"insert","schema-name":"shop","table-name":"orders"}}`
	f.putRaw([]types.PutRecordsRequestEntry{{Data: []byte(row), PartitionKey: aws.String("LOADTASK")}})
	f.run(f.config(), store)
	recs := f.fake.Records(dstStream)
	lastRec := recs[0]
	for _, r := range recs {
		if string(r.Data) == row {
			lastRec = r
		}
	}
	// Table-level key would be XXH64("shop\x00orders"); the row key includes the id.
	tableKey := routeKey(t, `{"control":{},"metadata":{"record-type":"control","operation":"x","schema-name":"shop","table-name":"orders"}}`)
	if lastRec.PartitionKey == tableKey {
		t.Fatal("row after restart went under the table-level key: learned keys were not restored")
	}
}

func TestRelay_InvalidRecordsAreForwardedUnderTheirSourceKey(t *testing.T) {
	f := newFixture(t, 4, 1)
	bad := []string{`not json`, `{"metadata":{"record-type":"DATA"}}`, `{"data":{}}`, `{"truncated":`}
	var entries []types.PutRecordsRequestEntry
	for i, b := range bad {
		entries = append(entries, types.PutRecordsRequestEntry{Data: []byte(b), PartitionKey: aws.String(fmt.Sprint("pk-", i))})
	}
	f.putRaw(entries)
	st := f.run(f.config(), &kinesisio.MemStore{})
	if st.Invalid != int64(len(bad)) {
		t.Fatalf("invalid count %d, want %d", st.Invalid, len(bad))
	}
	if n := len(f.fake.Records(dstStream)); n != len(bad) {
		t.Fatalf("%d of %d invalid records forwarded", n, len(bad))
	}
	for _, b := range bad {
		if strings.Contains(f.logs.String(), b) {
			t.Fatalf("a log line holds the payload %q", b)
		}
	}
	if strings.Count(f.logs.String(), `"message":"invalid record"`) != len(bad) {
		t.Fatalf("want one log line per invalid record:\n%s", f.logs.String())
	}
}

func TestRelay_OversizeRecordStallsShardWithoutCheckpointPastIt(t *testing.T) {
	f := newFixture(t, 4, 1)
	f.load(50, loadgen.DefaultConfig())
	big := `{"data":{"id":1,"blob":"` + strings.Repeat("x", 2000) + `"},"metadata":{"record-type":"data","operation":"insert","schema-name":"shop","table-name":"orders"}}`
	f.putRaw([]types.PutRecordsRequestEntry{{Data: []byte(big), PartitionKey: aws.String("LOADTASK")}})
	f.load(10, loadgen.Config{Schema: "shop", Tables: 1, Rows: 10, HotShare: 0, Seed: 5})
	cfg := f.config()
	cfg.MaxRecordSize = 1500
	cfg.StopWhenIdle = 0
	store := &kinesisio.MemStore{}
	r := f.relay(cfg, store)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v, want it to keep running until stopped", err)
	}
	if n := len(f.fake.Records(dstStream)); n != 50 {
		t.Fatalf("%d records forwarded, want the 50 before the oversize one", n)
	}
	cp, _, _ := store.Load(ctx)
	src := f.fake.Records(srcStream)
	if got, want := cp.Shards[src[0].ShardID].Seq, src[49].SequenceNumber; got != want {
		t.Fatalf("checkpoint %s, want the record before the oversize one (%s)", got, want)
	}
	if !strings.Contains(f.logs.String(), "shard stalled") || strings.Contains(f.logs.String(), "xxxx") {
		t.Fatal("want a stall log line without payload")
	}
}

func TestRelay_ReadsParentsBeforeChildrenAcrossASplit(t *testing.T) {
	f := newFixture(t, 8, 4)
	cfg := loadgen.DefaultConfig()
	cfg.Rows, cfg.Tables = 400, 8
	g, _ := loadgen.New(cfg)
	put := func(n int) {
		var es []types.PutRecordsRequestEntry
		for range n {
			// Key by table, as DMS does with PartitionIncludeSchemaTable:
			// a row stays in one shard of each generation, and the tables
			// spread over both children.
			r := g.Next()
			es = append(es, types.PutRecordsRequestEntry{Data: slices.Clone(r.Data), PartitionKey: aws.String("shop." + r.Table)})
		}
		f.putRaw(es)
	}
	put(3000)
	src := f.fake.Records(srcStream)
	must(t, f.fake.SplitShard(srcStream, src[0].ShardID, "170141183460469231731687303715884105728"))
	put(3000)
	st := f.run(f.config(), &kinesisio.MemStore{})
	if st.RecordsOut != 6000 {
		t.Fatalf("%d records out, want 6000", st.RecordsOut)
	}
	perShard := map[string]int{}
	for _, r := range f.fake.Records(srcStream) {
		perShard[r.ShardID]++
	}
	if len(perShard) != 3 {
		t.Fatalf("source records in %d shards, want parent and both children: %v", len(perShard), perShard)
	}
	f.history()
}

func TestRelay_RecoversFromExpiredIteratorsWithoutRereading(t *testing.T) {
	f := newFixture(t, 4, 5)
	f.load(5000, loadgen.DefaultConfig())
	must(t, f.fake.SetFaults(srcStream, kinesistest.Faults{ExpireIteratorRate: 0.3, EmptyReadRate: 0.2, GetErrRate: 0.1}))
	cfg := f.config()
	cfg.ReadLimit = 300
	st := f.run(cfg, &kinesisio.MemStore{})
	if dups := f.history(); dups != 0 || st.RecordsIn != 5000 {
		t.Fatalf("read %d records, %d duplicates: want 5000 and 0", st.RecordsIn, dups)
	}
}

func TestRelay_StalledDestinationBoundsMemory(t *testing.T) {
	f := newFixture(t, 4, 6)
	f.load(20000, loadgen.DefaultConfig())
	var mu sync.Mutex
	blocked := true
	must(t, f.fake.SetFaults(dstStream, kinesistest.Faults{PutErr: func(int) error {
		mu.Lock()
		defer mu.Unlock()
		if blocked {
			return &types.ProvisionedThroughputExceededException{Message: aws.String("stalled")}
		}
		return nil
	}}))
	cfg := f.config()
	cfg.MaxBufferedRecords = 2000
	cfg.StopWhenIdle = 300 * time.Millisecond
	r := f.relay(cfg, &kinesisio.MemStore{})
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	time.Sleep(1500 * time.Millisecond)
	if in := r.Stats().RecordsIn; in > 2000 {
		t.Fatalf("read %d records while the destination was stalled; bound is 2000", in)
	}
	mu.Lock()
	blocked = false
	mu.Unlock()
	must(t, <-done)
	if dups := f.history(); dups != 0 {
		t.Fatalf("%d duplicates", dups)
	}
}

func routeKey(t *testing.T, payload string) string {
	t.Helper()
	f := newFixture(t, 1, 1)
	f.putRaw([]types.PutRecordsRequestEntry{{Data: []byte(payload), PartitionKey: aws.String("x")}})
	f.run(f.config(), &kinesisio.MemStore{})
	return f.fake.Records(dstStream)[0].PartitionKey
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
