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
	"github.com/repartd/repartd/repartition"
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
// fails on loss, strangers, a row whose changes first arrive out of source
// order, a control record missing from a destination shard, or a DDL fence
// broken in a shard (a row change of its table on the wrong side of the
// control record's copy). It returns the duplicates of data records.
func (f *fixture) history() (dups int) {
	f.t.Helper()
	src := f.fake.Records(srcStream)
	dst := f.fake.Records(dstStream)
	slices.SortFunc(dst, func(a, b kinesistest.StoredRecord) int { return strings.Compare(a.SequenceNumber, b.SequenceNumber) })
	type pos struct {
		row   string
		table string
		i     int // index among the row's records
		n     int // index in the source
	}
	where := map[string]pos{} // payload -> its place in the source
	perRow := map[string]int{}
	for n, r := range src {
		row, table := rowOf(r.Data)
		if _, dup := where[string(r.Data)]; dup {
			f.t.Fatalf("test bug: two identical source payloads")
		}
		where[string(r.Data)] = pos{row, table, perRow[row], n}
		perRow[row]++
	}
	shards := map[string]bool{}
	for _, r := range dst {
		shards[r.ShardID] = true
	}
	seen := map[string]bool{}
	copies := map[string]map[string]bool{} // control payload -> shards holding it
	last := map[string]int{}
	// per destination shard and table: source index of the newest control
	// record seen there, and of the newest data record.
	type shardTable struct{ shard, table string }
	lastControl := map[shardTable]int{}
	lastData := map[shardTable]int{}
	for _, r := range dst {
		p, ok := where[string(r.Data)]
		if !ok {
			f.t.Fatalf("destination holds a record that is not from the source (seq %s)", r.SequenceNumber)
		}
		st := shardTable{r.ShardID, p.table}
		if strings.HasPrefix(p.row, "control:") {
			if copies[string(r.Data)] == nil {
				copies[string(r.Data)] = map[string]bool{}
			}
			if !copies[string(r.Data)][r.ShardID] {
				if d, ok := lastData[st]; ok && d > p.n {
					f.t.Fatalf("shard %s: a change of table %s from after its control record (source %d) arrived before the control record (source %d)", r.ShardID, p.table, d, p.n)
				}
				lastControl[st] = max(lastControl[st], p.n)
			}
			copies[string(r.Data)][r.ShardID] = true
			seen[string(r.Data)] = true
			continue
		}
		if seen[string(r.Data)] {
			dups++
			continue
		}
		seen[string(r.Data)] = true
		if c, ok := lastControl[st]; ok && c > p.n && p.table != "" {
			f.t.Fatalf("shard %s: change %d of table %s arrived after a later control record (source %d)", r.ShardID, p.n, p.table, c)
		}
		lastData[st] = max(lastData[st], p.n)
		if l, ok := last[p.row]; ok && p.i < l {
			f.t.Fatalf("row %s: change %d first arrived after change %d", p.row, p.i, l)
		}
		last[p.row] = p.i
	}
	if len(seen) != len(src) {
		f.t.Fatalf("%d of %d source records reached the destination", len(seen), len(src))
	}
	for payload, in := range copies {
		if len(in) != len(shards) && len(shards) > 0 {
			f.t.Fatalf("control record %.40q reached %d of %d destination shards", payload, len(in), len(shards))
		}
	}
	return dups
}

// rowOf names the row a DMS record changes (or "control:TABLE", or
// "invalid") and its table.
func rowOf(data []byte) (row, table string) {
	var m struct {
		Data     map[string]json.RawMessage `json:"data"`
		Metadata struct {
			Table string `json:"table-name"`
			Type  string `json:"record-type"`
		} `json:"metadata"`
	}
	if json.Unmarshal(data, &m) != nil || m.Metadata.Type == "" {
		return "invalid", ""
	}
	if m.Metadata.Type == "control" {
		return "control:" + m.Metadata.Table, m.Metadata.Table
	}
	return m.Metadata.Table + "/" + string(m.Data["id"]), m.Metadata.Table
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
	if strings.Count(f.logs.String(), `"message":"bad record"`) != len(bad) {
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
	distinct := map[string]bool{}
	for _, r := range f.fake.Records(dstStream) {
		distinct[string(r.Data)] = true
	}
	if n := len(distinct); n != 50 {
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

// dmsWithDDL is loadgen output with DDL spliced in: an add-column on a
// table, a drop-table followed by a create-table (the key columns are
// forgotten, then learned again), and a task-level control record.
func dmsWithDDL(t *testing.T, n int, seed uint64) []types.PutRecordsRequestEntry {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Rows, cfg.Zipf, cfg.Seed = 300, 1.1, seed
	g, err := loadgen.New(cfg)
	must(t, err)
	ddl := map[int]string{
		n / 5:     `{"control":{},"metadata":{"timestamp":"2026-01-01T00:00:01.000000Z","record-type":"control","operation":"add-column","partition-key-type":"task-id","schema-name":"shop","table-name":"orders"}}`,
		2 * n / 5: `{"control":{},"metadata":{"timestamp":"2026-01-01T00:00:02.000000Z","record-type":"control","operation":"drop-table","partition-key-type":"task-id","schema-name":"shop","table-name":"customers"}}`,
		3 * n / 5: `{"control":{"table-def":{"primary-key":["id"]}},"metadata":{"timestamp":"2026-01-01T00:00:03.000000Z","record-type":"control","operation":"create-table","partition-key-type":"task-id","schema-name":"shop","table-name":"customers"}}`,
		4 * n / 5: `{"control":{},"metadata":{"timestamp":"2026-01-01T00:00:04.000000Z","record-type":"control","operation":"task-stopped","partition-key-type":"task-id","schema-name":"","table-name":""}}`,
	}
	var es []types.PutRecordsRequestEntry
	for i := range n {
		if d, ok := ddl[i]; ok {
			es = append(es, types.PutRecordsRequestEntry{Data: []byte(d), PartitionKey: aws.String("LOADTASK")})
		}
		es = append(es, types.PutRecordsRequestEntry{Data: slices.Clone(g.Next().Data), PartitionKey: aws.String("LOADTASK")})
	}
	return es
}

func TestRelay_DDLIsAFenceAndReachesEveryShardUnderFaults(t *testing.T) {
	for _, seed := range []int64{11, 12} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			f := newFixture(t, 8, seed)
			f.putRaw(dmsWithDDL(t, 6000, uint64(seed)))
			must(t, f.fake.SetFaults(dstStream, kinesistest.Faults{PutFailRate: 0.3, AmbiguousRate: 0.05, CheckKeys: true}))
			st := f.run(f.config(), &kinesisio.MemStore{})
			if st.Fences != 8 { // 4 create-table + 4 spliced
				t.Fatalf("%d fences, want 8", st.Fences)
			}
			f.history() // checks fences per shard and broadcast to all 8 shards
		})
	}
}

func TestRelay_ReplayModeKeepsLastOccurrencesInOrder(t *testing.T) {
	f := newFixture(t, 8, 21)
	cfg := loadgen.DefaultConfig()
	cfg.Rows, cfg.Zipf = 200, 1.2
	f.load(8000, cfg)
	must(t, f.fake.SetFaults(dstStream, kinesistest.Faults{PutFailRate: 0.3, ThrottleRate: 0.05}))
	rc := f.config()
	rc.Ordering = kinesisio.OrderingReplay
	st := f.run(rc, &kinesisio.MemStore{})
	if st.Resends == 0 {
		t.Fatal("no record was re-sent after a failed one of its key: replay mode did not pipeline")
	}
	f.lastOccurrences()
	t.Logf("replay mode: %d records, %d resent after an earlier failure of their key", st.RecordsOut, st.Resends)
}

// lastOccurrences checks that, per row, the last delivery of each change is
// in source order, and nothing is missing.
func (f *fixture) lastOccurrences() {
	f.t.Helper()
	src := f.fake.Records(srcStream)
	dst := f.fake.Records(dstStream)
	slices.SortFunc(dst, func(a, b kinesistest.StoredRecord) int { return strings.Compare(a.SequenceNumber, b.SequenceNumber) })
	lastAt := map[string]int{}
	for i, r := range dst {
		lastAt[string(r.Data)] = i
	}
	prev := map[string]int{}
	for _, r := range src {
		row, _ := rowOf(r.Data)
		at, ok := lastAt[string(r.Data)]
		if !ok {
			f.t.Fatalf("a source record never reached the destination")
		}
		if strings.HasPrefix(row, "control:") {
			continue
		}
		if p, ok := prev[row]; ok && at < p {
			f.t.Fatalf("row %s: last delivery of a change precedes the last delivery of its predecessor", row)
		}
		prev[row] = at
	}
}

func TestRelay_ShardPacingAvoidsThrottling(t *testing.T) {
	run := func(perShard int) (throttled int64, out int64) {
		f := newFixture(t, 2, 31)
		f.load(4000, loadgen.DefaultConfig())
		must(t, f.fake.SetFaults(dstStream, kinesistest.Faults{Limits: true}))
		cfg := f.config()
		cfg.ShardRecordsPerSec = perShard
		st := f.run(cfg, &kinesisio.MemStore{})
		f.history()
		return int64(f.fake.StreamStats(dstStream).FailedEntries), st.RecordsOut
	}
	paced, out := run(1000)
	unpaced, _ := run(0)
	t.Logf("4000 records over 2 shards limited to 1000/s each: %d entry throttles paced, %d unpaced", paced, unpaced)
	if out != 4000 {
		t.Fatalf("%d records out", out)
	}
	if unpaced == 0 {
		t.Fatal("the fake's limits did not throttle an unpaced relay: the test proves nothing")
	}
	if paced*10 > unpaced {
		t.Fatalf("pacing left %d throttles (unpaced %d): want at least 10x fewer", paced, unpaced)
	}
}

func TestRelay_DeadLetterStreamTakesInvalidAndOversizeRecords(t *testing.T) {
	f := newFixture(t, 4, 41)
	must(t, f.fake.CreateStream("dlq", 1))
	f.load(100, loadgen.DefaultConfig())
	big := `{"data":{"id":1,"blob":"` + strings.Repeat("y", 3000) + `"},"metadata":{"record-type":"data","operation":"insert","schema-name":"shop","table-name":"orders"}}`
	f.putRaw([]types.PutRecordsRequestEntry{
		{Data: []byte(`{"broken":`), PartitionKey: aws.String("LOADTASK")},
		{Data: []byte(big), PartitionKey: aws.String("LOADTASK")},
	})
	f.load(100, loadgen.Config{Schema: "shop", Tables: 1, Rows: 50, Seed: 9})
	cfg := f.config()
	cfg.OnInvalid, cfg.DLQStream, cfg.MaxRecordSize = kinesisio.InvalidDLQ, "dlq", 2000
	st := f.run(cfg, &kinesisio.MemStore{})
	dead := f.fake.Records("dlq")
	if len(dead) != 2 || st.DeadLettered != 2 {
		t.Fatalf("%d dead letters (stats %d), want 2", len(dead), st.DeadLettered)
	}
	for i, want := range []string{`{"broken":`, big} {
		head, body, ok := strings.Cut(string(dead[i].Data), "\n")
		var h kinesisio.DLQHeader
		if !ok || json.Unmarshal([]byte(head), &h) != nil || h.Version != 1 || h.Reason == "" || h.Seq == "" || h.ShardID == "" {
			t.Fatalf("dead letter %d header %q", i, head)
		}
		if body != want {
			t.Fatalf("dead letter %d body changed", i)
		}
	}
	distinct := map[string]bool{}
	for _, r := range f.fake.Records(dstStream) {
		distinct[string(r.Data)] = true
	}
	if len(distinct) != 200 {
		t.Fatalf("%d records in the destination, want the 200 valid ones", len(distinct))
	}
	if strings.Contains(f.logs.String(), "yyyy") || strings.Contains(f.logs.String(), "broken") {
		t.Fatal("a log line holds payload bytes")
	}
}

func TestRelay_OnInvalidStopHoldsTheCheckpoint(t *testing.T) {
	f := newFixture(t, 2, 42)
	f.load(20, loadgen.DefaultConfig())
	f.putRaw([]types.PutRecordsRequestEntry{{Data: []byte(`nope`), PartitionKey: aws.String("LOADTASK")}})
	f.load(20, loadgen.Config{Schema: "shop", Tables: 1, Rows: 5, Seed: 3})
	cfg := f.config()
	cfg.OnInvalid, cfg.StopWhenIdle = kinesisio.InvalidStop, 0
	store := &kinesisio.MemStore{}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := f.relay(cfg, store).Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v", err)
	}
	cp, _, _ := store.Load(ctx)
	src := f.fake.Records(srcStream)
	if got := cp.Shards[src[0].ShardID].Seq; got != src[19].SequenceNumber {
		t.Fatalf("checkpoint %s, want the record before the invalid one %s", got, src[19].SequenceNumber)
	}
}

// trimmed pretends records before a sequence number aged out of the
// source's retention, as AWS would: iterators before it start at it.
type trimmed struct {
	*kinesistest.Fake
	shard, first string
}

func (t *trimmed) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, o ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	c := *in
	before := c.StartingSequenceNumber != nil && *c.StartingSequenceNumber < t.first
	if aws.ToString(c.ShardId) == t.shard && (c.ShardIteratorType == types.ShardIteratorTypeTrimHorizon || before) {
		c.ShardIteratorType, c.StartingSequenceNumber = types.ShardIteratorTypeAtSequenceNumber, aws.String(t.first)
	}
	return t.Fake.GetShardIterator(ctx, &c, o...)
}

func TestRelay_ExpiredCheckpointIsLoud(t *testing.T) {
	for _, policy := range []string{kinesisio.ExpiredFail, kinesisio.ExpiredTrimHorizon} {
		t.Run(policy, func(t *testing.T) {
			f := newFixture(t, 2, 43)
			f.load(100, loadgen.DefaultConfig())
			src := f.fake.Records(srcStream)
			store := &kinesisio.MemStore{}
			must(t, store.Save(context.Background(), kinesisio.Checkpoint{Source: srcStream, Dest: dstStream,
				Shards: map[string]kinesisio.ShardCheckpoint{src[0].ShardID: {Seq: src[9].SequenceNumber}}}))
			cfg := f.config()
			cfg.OnExpiredCheckpoint = policy
			r, err := kinesisio.NewRelay(cfg, &trimmed{f.fake, src[0].ShardID, src[50].SequenceNumber}, f.fake, store,
				zerolog.New(f.logs))
			must(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = r.Run(ctx)
			switch policy {
			case kinesisio.ExpiredFail:
				if !errors.Is(err, kinesisio.ErrCheckpointExpired) {
					t.Fatalf("run: %v, want ErrCheckpointExpired", err)
				}
				if n := len(f.fake.Records(dstStream)); n != 0 {
					t.Fatalf("%d records forwarded past an expired checkpoint", n)
				}
			default:
				must(t, err)
				if st := r.Stats(); st.ExpiredCheckpoints != 1 || st.RecordsIn != 50 {
					t.Fatalf("stats %+v: want 1 expired checkpoint and the 50 records left", st)
				}
			}
			if !strings.Contains(f.logs.String(), "aged out") && policy == kinesisio.ExpiredTrimHorizon {
				t.Fatal("no error line about the aged-out checkpoint")
			}
		})
	}
}

func TestRelay_CheckpointOnAVanishedShardIsLoud(t *testing.T) {
	f := newFixture(t, 2, 44)
	f.load(10, loadgen.DefaultConfig())
	store := &kinesisio.MemStore{}
	must(t, store.Save(context.Background(), kinesisio.Checkpoint{Source: srcStream, Dest: dstStream,
		Shards: map[string]kinesisio.ShardCheckpoint{"shardId-000000000099": {Seq: "49000000000000000000000000000000000000000000000000000001"}}}))
	err := f.relay(f.config(), store).Run(context.Background())
	if !errors.Is(err, kinesisio.ErrCheckpointExpired) {
		t.Fatalf("run: %v, want ErrCheckpointExpired", err)
	}
}

func TestRelay_WarnsOncePerShardOnTransactionKeyedSource(t *testing.T) {
	f := newFixture(t, 2, 45)
	rec := func(i int) string {
		return fmt.Sprintf(`{"data":{"id":%d},"metadata":{"record-type":"data","operation":"insert","partition-key-type":"transaction-id","schema-name":"s","table-name":"t"}}`, i)
	}
	var es []types.PutRecordsRequestEntry
	for i := range 30 {
		es = append(es, types.PutRecordsRequestEntry{Data: []byte(rec(i)), PartitionKey: aws.String("x")})
	}
	f.putRaw(es)
	cfg := f.config()
	cfg.Rules = mustRules(t, "s.t=id")
	f.run(cfg, &kinesisio.MemStore{})
	if n := strings.Count(f.logs.String(), "keys this source by transaction id"); n != 1 {
		t.Fatalf("%d transaction-id warnings, want 1", n)
	}
}

func mustRules(t *testing.T, specs ...string) *repartition.KeyRules {
	t.Helper()
	var rs []repartition.KeyRule
	for _, s := range specs {
		r, err := repartition.ParseKeyRule(s)
		must(t, err)
		rs = append(rs, r)
	}
	k, err := repartition.NewKeyRules(rs)
	must(t, err)
	return k
}

func TestRelay_DrainWithAStalledShardFails(t *testing.T) {
	f := newFixture(t, 2, 46)
	f.load(10, loadgen.DefaultConfig())
	f.putRaw([]types.PutRecordsRequestEntry{{Data: []byte(`nope`), PartitionKey: aws.String("LOADTASK")}})
	cfg := f.config()
	cfg.OnInvalid = kinesisio.InvalidStop
	err := f.relay(cfg, &kinesisio.MemStore{}).Run(context.Background())
	if !errors.Is(err, kinesisio.ErrShardStalled) {
		t.Fatalf("run: %v, want ErrShardStalled after draining with a stalled shard", err)
	}
}

// slowPuts makes every PutRecords call take perRecord per entry before it
// reaches the fake, and abandons it (writing nothing) when the call's
// context ends first: a destination too slow for big batches.
type slowPuts struct {
	*kinesistest.Fake
	perRecord time.Duration
}

func (s *slowPuts) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, o ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	t := time.NewTimer(time.Duration(len(in.Records)) * s.perRecord)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	return s.Fake.PutRecords(ctx, in, o...)
}

// A destination that cannot finish a full batch within PutTimeout would
// have every call time out and be re-sent whole, forever. Timeouts halve
// the batch instead, so the relay converges on calls that fit and
// delivers everything, in order.
func TestRelay_TimedOutCallsShrinkTheBatch(t *testing.T) {
	f := newFixture(t, 4, 11)
	f.load(3000, loadgen.DefaultConfig())
	slow := &slowPuts{Fake: f.fake, perRecord: 10 * time.Millisecond}
	cfg := f.config()
	cfg.PutTimeout = time.Second // a full 500-record call needs 5s; ≤ 100 records fit
	cfg.MaxInFlight = 8
	r, err := kinesisio.NewRelay(cfg, f.fake, slow, &kinesisio.MemStore{}, zerolog.New(f.logs).With().Timestamp().Logger())
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("relay: %v", err)
	}
	st := r.Stats()
	if st.RecordsOut != 3000 {
		t.Fatalf("%d records out, want 3000", st.RecordsOut)
	}
	t.Logf("%d entries retried, %d timed-out calls, %d shrinks", st.Retries, st.AmbiguousCalls, st.BatchShrinks)
	if st.BatchShrinks == 0 {
		t.Fatalf("no timed-out call shrank the batch (%d timed-out calls)", st.AmbiguousCalls)
	}
	// Halving from 500 reaches a size that fits (≤ 100) after calls of 500,
	// 250 and 125 time out, so no record is re-sent more than 3 times. Re-
	// sending whole batches instead keeps timing out: ~18,000 re-sends.
	if st.Retries > 3*3000 {
		t.Fatalf("%d entries re-sent for 3000 records: batches did not shrink to fit", st.Retries)
	}
	if !strings.Contains(f.logs.String(), "sending smaller batches") {
		t.Fatal("no log line says the batch shrank")
	}
	if dups := f.history(); dups != 0 {
		t.Fatalf("%d duplicates: abandoned calls wrote nothing", dups)
	}
}

// In strict order a row that changes faster than one record per round
// trip falls behind, and the checkpoint cannot pass its oldest record.
// Reading must wait for it: records read but not yet checkpointable (the
// watermark's memory, and what a restart replays) stay within
// MaxUncommittedRecords, however many later records of other rows are
// acknowledged meanwhile.
func TestRelay_HotRowHoldsReadingBackWithinTheBound(t *testing.T) {
	f := newFixture(t, 4, 12)
	lc := loadgen.DefaultConfig()
	lc.HotShare = 0.2
	f.load(6000, lc)
	must(t, f.fake.SetFaults(dstStream, kinesistest.Faults{PutLatency: 5 * time.Millisecond}))
	cfg := f.config()
	cfg.MaxBufferedRecords, cfg.MaxUncommittedRecords = 500, 1000
	r := f.relay(cfg, &kinesisio.MemStore{})
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	most := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case err := <-done:
			must(t, err)
			running = false
		case <-tick.C:
			for _, s := range r.Snapshot().Shards {
				most = max(most, s.PendingRecords)
			}
		}
	}
	t.Logf("at most %d records read and not checkpointable", most)
	if most > cfg.MaxUncommittedRecords {
		t.Fatalf("%d records read past the checkpoint; bound is %d", most, cfg.MaxUncommittedRecords)
	}
	if most == 0 {
		t.Fatal("never saw a pending record: the test measured nothing")
	}
	if dups := f.history(); dups != 0 {
		t.Fatalf("%d duplicates", dups)
	}
}
