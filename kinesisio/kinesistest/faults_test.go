package kinesistest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

func TestSetFaults_ReportsEveryBadField(t *testing.T) {
	f := newFake(t, "s", 1)
	err := f.SetFaults("s", kinesistest.Faults{PutFailRate: 1.5, GetErrRate: -1, PutLatency: -time.Second})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, field := range []string{"PutFailRate", "GetErrRate", "PutLatency"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
	if err := f.SetFaults("nope", kinesistest.Faults{}); err == nil {
		t.Error("unknown stream: want an error")
	}
}

// history runs a fixed sequence of calls under faults and renders every
// outcome, for comparing runs.
func history(t *testing.T, seed int64) string {
	t.Helper()
	clk := newClock()
	f := newFake(t, "s", 2, kinesistest.WithSeed(seed), kinesistest.WithClock(clk.Now))
	if err := f.SetFaults("s", kinesistest.Faults{
		PutFailRate: 0.2, ThrottleRate: 0.1, AmbiguousRate: 0.1,
		ExpireIteratorRate: 0.1, EmptyReadRate: 0.2, GetErrRate: 0.1,
	}); err != nil {
		t.Fatal(err)
	}
	var h []string
	ctx := context.Background()
	for call := range 30 {
		var keys []string
		for i := range 10 {
			keys = append(keys, fmt.Sprintf("k%d-%d", call, i))
		}
		out, err := f.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: entries(keys...)})
		if err != nil {
			h = append(h, "put error "+errorName(err))
			continue
		}
		for _, r := range out.Records {
			if r.ErrorCode != nil {
				h = append(h, *r.ErrorCode)
			} else {
				h = append(h, *r.ShardId+"/"+*r.SequenceNumber)
			}
		}
		clk.Advance(10 * time.Millisecond)
	}
	it := iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
	for range 30 {
		out, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: &it, Limit: ptr(int32(7))})
		if err != nil {
			h = append(h, "get error "+errorName(err))
			continue
		}
		h = append(h, fmt.Sprintf("got %d", len(out.Records)))
		it = *out.NextShardIterator
	}
	return fmt.Sprint(h)
}

func errorName(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return err.Error()
}

func TestFaults_SameSeedSameHistory(t *testing.T) {
	a, b := history(t, 42), history(t, 42)
	if a != b {
		t.Fatalf("seed 42 gave two histories:\n%s\n%s", a, b)
	}
	if c := history(t, 43); c == a {
		t.Errorf("seeds 42 and 43 gave the same history")
	}
	for _, want := range []string{"ProvisionedThroughputExceededException", "InternalFailure", "put error", "get error ExpiredIteratorException", "got 0"} {
		if !strings.Contains(a, want) {
			t.Errorf("history lacks %q: %s", want, a)
		}
	}
}

func TestFaults_ThrottleWritesNothing(t *testing.T) {
	f := newFake(t, "s", 1)
	if err := f.SetFaults("s", kinesistest.Faults{ThrottleRate: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := f.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: entries("a")})
	wantErr[*types.ProvisionedThroughputExceededException](t, err)
	if n := len(f.Records("s")); n != 0 {
		t.Errorf("throttled call wrote %d records", n)
	}
	if s := f.Stats(); s.Throttles != 1 || s.PutErrors != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestFaults_AmbiguousWritesThenFails(t *testing.T) {
	f := newFake(t, "s", 1, kinesistest.WithSeed(1))
	if err := f.SetFaults("s", kinesistest.Faults{AmbiguousRate: 1}); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i := range 20 {
		_, err := f.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: entries(fmt.Sprint(i))})
		wantErr[*smithy.OperationError](t, err)
		var ne net.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded) && errors.As(err, &ne) && ne.Timeout():
			kinds["timeout"]++
		case errors.As(err, new(*types.InternalFailureException)):
			kinds["internal"]++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if kinds["timeout"] == 0 || kinds["internal"] == 0 {
		t.Errorf("want both kinds, got %v", kinds)
	}
	if n := len(f.Records("s")); n != 20 {
		t.Errorf("ambiguous calls wrote %d records, want 20", n)
	}
	if s := f.Stats(); s.Ambiguous != 20 {
		t.Errorf("stats %+v", s)
	}
}

func TestFaults_PutErrFailsChosenCalls(t *testing.T) {
	f := newFake(t, "s", 1)
	errBoom := errors.New("boom")
	if err := f.SetFaults("s", kinesistest.Faults{PutErr: func(call int) error {
		if call%3 == 0 {
			return errBoom
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	var failed []int
	for call := 1; call <= 9; call++ {
		_, err := f.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: entries("k")})
		if err != nil {
			if !errors.Is(err, errBoom) {
				t.Fatalf("call %d: %v", call, err)
			}
			wantErr[*smithy.OperationError](t, err)
			failed = append(failed, call)
		}
	}
	if !slices.Equal(failed, []int{3, 6, 9}) || len(f.Records("s")) != 6 {
		t.Errorf("failed calls %v, %d records", failed, len(f.Records("s")))
	}
}

func TestFaults_LimitsPerShard(t *testing.T) {
	clk := newClock()
	f := newFake(t, "s", 2, kinesistest.WithClock(clk.Now))
	if err := f.SetFaults("s", kinesistest.Faults{Limits: true}); err != nil {
		t.Fatal(err)
	}
	// 1000 records/s into shard 0 via EHK "0"; shard 1 stays free.
	batch := func(ehk string, n int) []types.PutRecordsRequestEntry {
		e := make([]types.PutRecordsRequestEntry, n)
		for i := range e {
			e[i] = types.PutRecordsRequestEntry{PartitionKey: ptr("k"), ExplicitHashKey: ptr(ehk), Data: []byte("x")}
		}
		return e
	}
	for range 2 {
		if out := put(t, f, "s", batch("0", 500)); *out.FailedRecordCount != 0 {
			t.Fatalf("within the limit: %d failed", *out.FailedRecordCount)
		}
	}
	out := put(t, f, "s", append(batch("0", 1), batch("340282366920938463463374607431768211455", 1)...))
	if out.Records[0].ErrorCode == nil || *out.Records[0].ErrorCode != "ProvisionedThroughputExceededException" {
		t.Errorf("record 1001 of shard 0: %+v", out.Records[0])
	}
	if out.Records[1].ErrorCode != nil {
		t.Errorf("shard 1 throttled: %+v", out.Records[1])
	}
	clk.Advance(10 * time.Millisecond) // 10 more records' worth
	if out := put(t, f, "s", batch("0", 11)); *out.FailedRecordCount != 1 || out.Records[10].ErrorCode == nil {
		t.Errorf("after 10 ms: %d failed, want only the 11th", *out.FailedRecordCount)
	}

	// 1 MiB/s: one full-size record empties the byte bucket.
	clk.Advance(time.Second)
	big := []types.PutRecordsRequestEntry{{PartitionKey: ptr("k"), ExplicitHashKey: ptr("0"), Data: make([]byte, 1<<20-1)}}
	if out := put(t, f, "s", append(big, batch("0", 1)...)); out.Records[0].ErrorCode != nil || out.Records[1].ErrorCode == nil {
		t.Errorf("1 MiB then 1 byte: %+v", out.Records)
	}

	// Reads: 5 calls/s per shard.
	it := iter(t, f, "s", "shardId-000000000001", types.ShardIteratorTypeLatest, "")
	for range 5 {
		get(t, f, it, 0)
	}
	_, err := f.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: &it})
	wantErr[*types.ProvisionedThroughputExceededException](t, err)
	clk.Advance(200 * time.Millisecond)
	get(t, f, it, 0)
}

func TestFaults_ReadFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults kinesistest.Faults
		check  func(*testing.T, *kinesis.GetRecordsOutput, error)
	}{
		{"expired", kinesistest.Faults{ExpireIteratorRate: 1}, func(t *testing.T, _ *kinesis.GetRecordsOutput, err error) {
			wantErr[*types.ExpiredIteratorException](t, err)
		}},
		{"transient", kinesistest.Faults{GetErrRate: 1}, func(t *testing.T, _ *kinesis.GetRecordsOutput, err error) {
			wantErr[*types.InternalFailureException](t, err)
		}},
		{"empty", kinesistest.Faults{EmptyReadRate: 1}, func(t *testing.T, out *kinesis.GetRecordsOutput, err error) {
			if err != nil || len(out.Records) != 0 || out.NextShardIterator == nil || *out.MillisBehindLatest != 0 {
				t.Fatalf("got %+v, %v", out, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, "s", 1)
			put(t, f, "s", entries("a", "b"))
			it := iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
			if err := f.SetFaults("s", tt.faults); err != nil {
				t.Fatal(err)
			}
			out, err := f.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: &it})
			tt.check(t, out, err)
			if err := f.SetFaults("s", kinesistest.Faults{}); err != nil {
				t.Fatal(err)
			}
			next := it
			if out != nil {
				next = *out.NextShardIterator
			}
			if got := get(t, f, next, 0); len(got.Records) != 2 {
				t.Errorf("after the fault: read %d records from the same position, want 2", len(got.Records))
			}
		})
	}
}

func TestFaults_CheckKeysReportsKeyInFlightTwice(t *testing.T) {
	t.Run("one call", func(t *testing.T) {
		rec := &recorder{}
		f := newFake(t, "s", 1, kinesistest.WithT(rec))
		if err := f.SetFaults("s", kinesistest.Faults{CheckKeys: true}); err != nil {
			t.Fatal(err)
		}
		put(t, f, "s", entries("a", "b", "a"))
		if rec.count() != 1 || f.Stats().KeyConflicts != 1 {
			t.Errorf("reports %v, stats %+v", rec.msgs, f.Stats())
		}
		if strings.Contains(fmt.Sprint(rec.msgs), `"a"`) {
			t.Errorf("report holds the key: %v", rec.msgs)
		}
	})
	t.Run("overlapping calls", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := &recorder{}
			f := newFake(t, "s", 1, kinesistest.WithT(rec))
			var seen [][]string
			var mu sync.Mutex
			if err := f.SetFaults("s", kinesistest.Faults{CheckKeys: true, PutLatency: 100 * time.Millisecond,
				OnPut: func(e []types.PutRecordsRequestEntry) {
					mu.Lock()
					defer mu.Unlock()
					var keys []string
					for _, x := range e {
						keys = append(keys, *x.PartitionKey)
					}
					seen = append(seen, keys)
				}}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for _, keys := range [][]string{{"a", "b"}, {"c", "a"}} {
				wg.Go(func() { put(t, f, "s", entries(keys...)) })
				time.Sleep(10 * time.Millisecond)
			}
			wg.Wait()
			if rec.count() != 1 {
				t.Errorf("reports %v", rec.msgs)
			}
			if len(seen) != 2 {
				t.Errorf("OnPut saw %v", seen)
			}
			// Sequential calls with the same key are fine.
			put(t, f, "s", entries("a"))
			put(t, f, "s", entries("a"))
			if rec.count() != 1 {
				t.Errorf("sequential calls reported: %v", rec.msgs)
			}
		})
	})
}

func TestFaults_LatencyHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t, "s", 1)
		if err := f.SetFaults("s", kinesistest.Faults{PutLatency: 100 * time.Millisecond, GetLatency: time.Second}); err != nil {
			t.Fatal(err)
		}
		call := func(d time.Duration, key string) error {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			_, err := f.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: entries(key)})
			return err
		}
		if err := call(30*time.Millisecond, "early"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline in the first half: %v", err)
		}
		if err := call(80*time.Millisecond, "late"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline in the second half: %v", err)
		}
		if err := call(time.Second, "ok"); err != nil {
			t.Errorf("no deadline: %v", err)
		}
		var keys []string
		for _, r := range f.Records("s") {
			keys = append(keys, r.PartitionKey)
		}
		if fmt.Sprint(keys) != "[late ok]" {
			t.Errorf("written %v, want [late ok]", keys)
		}
		if s := f.Stats(); s.Ambiguous != 1 {
			t.Errorf("stats %+v", s)
		}

		it := iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: &it})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 500*time.Millisecond {
			t.Errorf("get: %v after %v", err, time.Since(start))
		}
	})
}

// TestFake_ConcurrentPutsAndGets is for -race: writers put their own keys
// one call at a time while readers poll every shard; in the end each key's
// records are complete and in order.
func TestFake_ConcurrentPutsAndGets(t *testing.T) {
	rec := &recorder{}
	f := newFake(t, "s", 4, kinesistest.WithT(rec), kinesistest.WithSeed(3))
	if err := f.SetFaults("s", kinesistest.Faults{CheckKeys: true}); err != nil {
		t.Fatal(err)
	}
	const writers, calls, perCall = 8, 50, 10
	ctx := context.Background()
	written := make(chan struct{}) // closed once every writer is done

	var readers, writing sync.WaitGroup
	var mu sync.Mutex
	read := map[string][]string{} // key → data in read order
	for i := range 4 {
		shard := fmt.Sprintf("shardId-%012d", i)
		readers.Go(func() {
			it := iter(t, f, "s", shard, types.ShardIteratorTypeTrimHorizon, "")
			for {
				var last bool // all writes done before this read: an empty reply is the end
				select {
				case <-written:
					last = true
				default:
				}
				out, err := f.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: &it})
				if err != nil {
					t.Errorf("get: %v", err)
					return
				}
				mu.Lock()
				for _, r := range out.Records {
					read[*r.PartitionKey] = append(read[*r.PartitionKey], string(r.Data))
				}
				mu.Unlock()
				it = *out.NextShardIterator
				if last && len(out.Records) == 0 {
					return
				}
			}
		})
	}
	for w := range writers {
		writing.Go(func() {
			for c := range calls {
				e := make([]types.PutRecordsRequestEntry, perCall)
				for i := range e {
					e[i] = types.PutRecordsRequestEntry{
						PartitionKey: ptr(fmt.Sprintf("w%d-k%d", w, i)),
						Data:         fmt.Appendf(nil, "%d", c),
					}
				}
				if _, err := f.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: e}); err != nil {
					t.Errorf("put: %v", err)
					return
				}
			}
		})
	}
	writing.Wait()
	close(written)
	readers.Wait()

	if rec.count() != 0 {
		t.Errorf("key conflicts: %v", rec.msgs)
	}
	if len(read) != writers*perCall {
		t.Errorf("read %d keys, want %d", len(read), writers*perCall)
	}
	for key, data := range read {
		if len(data) != calls {
			t.Errorf("key %s: %d records, want %d", key, len(data), calls)
			continue
		}
		for c, d := range data {
			if d != fmt.Sprint(c) {
				t.Errorf("key %s: record %d holds %s", key, c, d)
				break
			}
		}
	}
	if s := f.Stats(); s.Written != writers*calls*perCall || s.PutCalls != writers*calls {
		t.Errorf("stats %+v", s)
	}
}
