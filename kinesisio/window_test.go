package kinesisio_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

// windowLog gathers what ReadWindow handed over and checks its promises
// as batches arrive: each shard in sequence order, no batch of a child
// before the last batch of its parents, each record once.
type windowLog struct {
	t       *testing.T
	lastSeq map[string]string
	parents map[string][]string
	data    map[string]int
	records int
}

func newWindowLog(t *testing.T) *windowLog {
	return &windowLog{t: t, lastSeq: map[string]string{}, parents: map[string][]string{}, data: map[string]int{}}
}

func (l *windowLog) add(b kinesisio.ShardBatch) error {
	id := aws.ToString(b.Shard.ShardId)
	for _, p := range []*string{b.Shard.ParentShardId, b.Shard.AdjacentParentShardId} {
		if p != nil {
			l.parents[id] = append(l.parents[id], *p)
		}
	}
	for child, ps := range l.parents {
		for _, p := range ps {
			if p == id && l.lastSeq[child] != "" {
				l.t.Errorf("batch of parent %s after records of its child %s", id, child)
			}
		}
	}
	for _, r := range b.Records {
		seq := aws.ToString(r.SequenceNumber)
		if seq <= l.lastSeq[id] { // equal-length decimals: string order is number order
			l.t.Errorf("shard %s: sequence %s after %s", id, seq, l.lastSeq[id])
		}
		l.lastSeq[id] = seq
		l.data[string(r.Data)]++
		l.records++
	}
	return nil
}

func (l *windowLog) each(t *testing.T, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if got := l.data[fmt.Sprintf("rec-%04d", i)]; got != 1 {
			t.Fatalf("rec-%04d handed over %d times, want once", i, got)
		}
	}
}

func windowConfig(from types.ShardIteratorType) kinesisio.WindowConfig {
	cfg := kinesisio.DefaultWindowConfig()
	cfg.From = from
	cfg.PollInterval = 200 * time.Millisecond
	cfg.ShardRefresh = time.Second
	cfg.Limit = 7 // several calls per shard
	return cfg
}

func TestReadWindow_TrimHorizonReadsParentsFirstUntilCaughtUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := kinesistest.New(kinesistest.WithT(t), kinesistest.WithSeed(3))
		must(t, f.CreateStream("s", 1))
		// One record a millisecond: an empty read is only "caught up"
		// when MillisBehindLatest says so, and that is counted in time.
		for i := range 100 {
			if i == 50 {
				must(t, f.SplitShard("s", "shardId-000000000000", "170141183460469231731687303715884105728"))
			}
			putN(t, f, "s", i, 1)
			time.Sleep(time.Millisecond)
		}
		must(t, f.SetFaults("s", kinesistest.Faults{ExpireIteratorRate: 0.1, GetErrRate: 0.1, EmptyReadRate: 0.2}))

		cfg := windowConfig(types.ShardIteratorTypeTrimHorizon)
		cfg.Duration, cfg.UntilCaughtUp = 0, true
		l := newWindowLog(t)
		w, err := kinesisio.ReadWindow(t.Context(), f, "s", cfg, nil, zerolog.New(zerolog.NewTestWriter(t)), l.add)
		if err != nil {
			t.Fatal(err)
		}
		if w.Ended != kinesisio.WindowCaughtUp || w.Records != 100 || l.records != 100 {
			t.Fatalf("ended %s with %d records (%d handed over), want caught-up with 100", w.Ended, w.Records, l.records)
		}
		l.each(t, 0, 100)
		states := map[string]kinesisio.ShardState{}
		total := 0
		for _, s := range w.Shards {
			states[aws.ToString(s.Shard.ShardId)] = s.State
			total += s.Records
		}
		if states["shardId-000000000000"] != kinesisio.ShardEnded || states["shardId-000000000001"] != kinesisio.ShardCaughtUp ||
			states["shardId-000000000002"] != kinesisio.ShardCaughtUp || total != 100 {
			t.Fatalf("shard states %v, %d records; want parent ended, children caught up, 100", states, total)
		}
		if aws.ToString(w.Shards[0].Shard.ShardId) != "shardId-000000000000" {
			t.Fatalf("shards not in lineage order: first is %s", aws.ToString(w.Shards[0].Shard.ShardId))
		}
	})
}

// TestReadWindow_LatestSeesWhatArrivesAndFollowsASplit: a LATEST window
// skips what was there before it, hands over everything written during
// it once, including what lands in the children of a split it sees
// happen, and keeps to the poll interval.
func TestReadWindow_LatestSeesWhatArrivesAndFollowsASplit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := kinesistest.New(kinesistest.WithT(t))
		must(t, f.CreateStream("s", 2))
		must(t, f.SplitShard("s", "shardId-000000000000", "85070591730234615865843651857942052864"))
		putN(t, f, "s", 0, 40) // before the window: not seen

		cfg := windowConfig(types.ShardIteratorTypeLatest)
		cfg.Duration = 10 * time.Second
		go func() {
			time.Sleep(2 * time.Second)
			putN(t, f, "s", 40, 30)
			must(t, f.SplitShard("s", "shardId-000000000001", "255211775190703847597530955573826158592"))
			time.Sleep(2 * time.Second)
			putN(t, f, "s", 70, 30)
		}()
		l := newWindowLog(t)
		start := time.Now()
		w, err := kinesisio.ReadWindow(t.Context(), f, "s", cfg, nil, zerolog.New(zerolog.NewTestWriter(t)), l.add)
		if err != nil {
			t.Fatal(err)
		}
		// It ends at 10s, then reads each shard once more (one poll later).
		if w.Ended != kinesisio.WindowDuration || w.End.Sub(w.Start) != 10*time.Second || time.Since(start) > 10*time.Second+cfg.PollInterval {
			t.Fatalf("ended %s: window %s, returned after %s; want duration, 10s, by 10.2s", w.Ended, w.End.Sub(w.Start), time.Since(start))
		}
		if l.records != 60 {
			t.Fatalf("%d records, want the 60 written during the window", l.records)
		}
		l.each(t, 40, 60)
		states := map[string]kinesisio.ShardState{}
		for _, s := range w.Shards {
			states[aws.ToString(s.Shard.ShardId)] = s.State
		}
		want := map[string]kinesisio.ShardState{
			"shardId-000000000000": kinesisio.ShardSkipped, // closed before the window
			"shardId-000000000001": kinesisio.ShardEnded,   // split during it
			"shardId-000000000002": kinesisio.ShardReading, "shardId-000000000003": kinesisio.ShardReading,
			"shardId-000000000004": kinesisio.ShardReading, "shardId-000000000005": kinesisio.ShardReading,
		}
		for id, st := range want {
			if states[id] != st {
				t.Errorf("%s: %s, want %s (all: %v)", id, states[id], st, states)
			}
		}
		// Four open shards at most, 5 calls/s each, for 10s.
		if calls := f.StreamStats("s").GetCalls; calls > 4*51 || w.Calls < calls {
			t.Fatalf("%d GetRecords calls in 10s (window counted %d), want ≤ %d", calls, w.Calls, 4*51)
		}
	})
}

// writeEvery writes one record every 100ms, 50ms into each tenth of a
// second from the start, n records in all.
func writeEvery(t *testing.T, f *kinesistest.Fake, n int) {
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(50*time.Millisecond + time.Duration(i)*100*time.Millisecond)))
		putN(t, f, "s", i, 1)
	}
}

// TestReadWindow_LatestEndsExactly: a LATEST window holds what arrived
// before its end, though the shard is only polled once a second: it reads
// each shard once more after the end and leaves out later arrivals.
func TestReadWindow_LatestEndsExactly(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop bool
	}{{"Duration", false}, {"Stop", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := kinesistest.New(kinesistest.WithT(t))
				must(t, f.CreateStream("s", 1))
				cfg := windowConfig(types.ShardIteratorTypeLatest)
				cfg.PollInterval, cfg.Limit = time.Second, 10000
				cfg.Duration = 10 * time.Second
				stop := make(chan struct{})
				if tc.stop {
					cfg.Duration = time.Hour
					time.AfterFunc(10*time.Second, func() { close(stop) })
				}
				go writeEvery(t, f, 150)
				l := newWindowLog(t)
				w, err := kinesisio.ReadWindow(t.Context(), f, "s", cfg, stop, zerolog.Nop(), l.add)
				if err != nil {
					t.Fatal(err)
				}
				want := kinesisio.WindowDuration
				if tc.stop {
					want = kinesisio.WindowStopped
				}
				if w.Ended != want || w.End.Sub(w.Start) != 10*time.Second {
					t.Fatalf("ended %s after %s, want %s after 10s", w.Ended, w.End.Sub(w.Start), want)
				}
				if l.records != 100 || w.Records != 100 {
					t.Fatalf("%d records (window says %d), want the 100 that arrived in the 10s", l.records, w.Records)
				}
				l.each(t, 0, 100)
				time.Sleep(10 * time.Second) // let the writer finish
			})
		})
	}
}

func TestReadWindow_RecordBoundCutsTheLastBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := kinesistest.New(kinesistest.WithT(t))
		must(t, f.CreateStream("s", 1))
		putN(t, f, "s", 0, 100)
		cfg := windowConfig(types.ShardIteratorTypeTrimHorizon)
		cfg.Records = 42
		l := newWindowLog(t)
		w, err := kinesisio.ReadWindow(t.Context(), f, "s", cfg, nil, zerolog.Nop(), l.add)
		if err != nil {
			t.Fatal(err)
		}
		if w.Ended != kinesisio.WindowRecords || w.Records != 42 || l.records != 42 {
			t.Fatalf("ended %s with %d records (%d handed over), want records with 42", w.Ended, w.Records, l.records)
		}
		l.each(t, 0, 42)
		if s := w.Shards[0]; s.State != kinesisio.ShardReading || s.Records != 42 || s.LastArrival.IsZero() {
			t.Fatalf("shard %+v, want reading with 42 records and an arrival time", s)
		}
	})
}

func TestReadWindow_CancelReturnsTheWindowSoFar(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := kinesistest.New(kinesistest.WithT(t))
		must(t, f.CreateStream("s", 1))
		putN(t, f, "s", 0, 10)
		ctx, cancel := context.WithCancel(t.Context())
		cfg := windowConfig(types.ShardIteratorTypeTrimHorizon)
		cfg.Duration = time.Hour
		n := 0
		w, err := kinesisio.ReadWindow(ctx, f, "s", cfg, nil, zerolog.Nop(), func(b kinesisio.ShardBatch) error {
			n += len(b.Records)
			if n == 10 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || w.Ended != kinesisio.WindowCanceled || w.Records != 10 {
			t.Fatalf("err %v, ended %s, %d records; want canceled with 10", err, w.Ended, w.Records)
		}
	})
}

func TestReadWindow_CallbackErrorStopsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := kinesistest.New(kinesistest.WithT(t))
		must(t, f.CreateStream("s", 1))
		putN(t, f, "s", 0, 10)
		boom := errors.New("boom")
		cfg := windowConfig(types.ShardIteratorTypeTrimHorizon)
		_, err := kinesisio.ReadWindow(t.Context(), f, "s", cfg, nil, zerolog.Nop(), func(kinesisio.ShardBatch) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want boom", err)
		}
	})
}

func TestReadWindow_MissingStreamIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := kinesistest.New(kinesistest.WithT(t))
		_, err := kinesisio.ReadWindow(t.Context(), f, "nope", kinesisio.DefaultWindowConfig(), nil, zerolog.Nop(), func(kinesisio.ShardBatch) error { return nil })
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), "list shards of nope") {
			t.Fatalf("err %v, want a wrapped ResourceNotFoundException", err)
		}
	})
}

func TestWindowConfig_ValidateReportsEveryBadField(t *testing.T) {
	err := kinesisio.WindowConfig{From: "AT_TIMESTAMP", Duration: -1, Records: -1, PollInterval: time.Millisecond}.Validate()
	for _, want := range []string{"from \"AT_TIMESTAMP\"", "duration -1ns", "records -1", "poll-interval 1ms", "shard-refresh 0s", "limit 0", "retry back-off"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to mention %q", err, want)
		}
	}
	cfg := kinesisio.DefaultWindowConfig()
	cfg.Duration = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "never ends") {
		t.Errorf("an endless window: %v, want an error", err)
	}
	if err := kinesisio.DefaultWindowConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}
