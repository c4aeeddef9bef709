package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/repartd/repartd/bench/loadgen"
	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/repartition"
)

// --- unit tests of the checker: hand-built records, no network ---

var testRules = func() *repartition.KeyRules {
	r, err := repartition.ParseKeyRule("shop.orders=id")
	if err != nil {
		panic(err)
	}
	rules, err := repartition.NewKeyRules([]repartition.KeyRule{r})
	if err != nil {
		panic(err)
	}
	return rules
}()

// row returns the v-th change of row id of shop.orders: a DMS data record.
func row(id, v int) []byte {
	return fmt.Appendf(nil, `{"data":{"id":%d,"v":%d},"metadata":{"record-type":"data","operation":"update","schema-name":"shop","table-name":"orders"}}`, id, v)
}

// routeKey is the key the relay gives payload.
func routeKey(payload []byte) uint64 {
	var d repartition.Decision
	repartition.NewRouter(testRules, repartition.Learned{}).Route(payload, &d)
	return d.Key
}

func pkOf(key uint64) *string {
	return aws.String(string(repartition.AppendPartitionKey(nil, key)))
}

// seqN is a 56-digit sequence number, as Kinesis issues.
func seqN(n int) *string { return aws.String(fmt.Sprintf("49%054d", n)) }

func shard(id string, parents ...string) types.Shard {
	s := types.Shard{ShardId: aws.String(id)}
	if len(parents) > 0 {
		s.ParentShardId = aws.String(parents[0])
	}
	if len(parents) > 1 {
		s.AdjacentParentShardId = aws.String(parents[1])
	}
	return s
}

// src builds source records, all under DMS's one partition key.
func src(payloads ...[]byte) kinesisio.ShardRecords {
	sr := kinesisio.ShardRecords{Shard: shard("shardId-src")}
	for i, p := range payloads {
		sr.Records = append(sr.Records, types.Record{Data: p, PartitionKey: aws.String("LOADTASK"), SequenceNumber: seqN(i + 1)})
	}
	return sr
}

// dst builds destination records of one shard, each under its contract
// key, with increasing sequence numbers from first.
func dst(s types.Shard, first int, payloads ...[]byte) kinesisio.ShardRecords {
	sr := kinesisio.ShardRecords{Shard: s}
	for i, p := range payloads {
		sr.Records = append(sr.Records, types.Record{Data: p, PartitionKey: pkOf(routeKey(p)), SequenceNumber: seqN(first + i)})
	}
	return sr
}

// check runs a batch checker over source and destination shards (in the
// order given) and returns its report.
func check(t *testing.T, order orderMode, source kinesisio.ShardRecords, dests ...kinesisio.ShardRecords) Report {
	t.Helper()
	c := newChecker(testRules, checkerOptions{order: order})
	if err := c.addSource(source); err != nil {
		t.Fatal(err)
	}
	for _, d := range dests {
		if err := c.addDest(d); err != nil {
			t.Fatal(err)
		}
	}
	return c.report(time.Now(), true)
}

// counts is the part of a report the table tests pin.
type counts struct {
	missing, dups, unexpected, misrouted, first, last, split int
	ok                                                       bool
}

func countsOf(r Report) counts {
	return counts{r.Missing, r.Duplicates, r.Unexpected, r.Misrouted, r.OrderViolations, r.LastOrderViolations, r.SplitKeys, r.OK}
}

func TestChecker_Verdicts(t *testing.T) {
	a1, a2, a3, b1 := row(1, 1), row(1, 2), row(1, 3), row(2, 1)
	s0 := shard("shardId-000000000000")
	junk := []byte(`{"data":{"id":9},"metadata":{"record-type":"data","operation":"insert","schema-name":"shop","table-name":"orders","note":"not from the source"}}`)
	wrongPK := dst(s0, 1, a1, a2)
	wrongPK.Records[1].PartitionKey = pkOf(routeKey(b1))
	upperPK := dst(s0, 1, a1)
	upperPK.Records[0].PartitionKey = aws.String(strings.ToUpper(*upperPK.Records[0].PartitionKey))

	for _, tc := range []struct {
		name   string
		source kinesisio.ShardRecords
		dests  []kinesisio.ShardRecords
		order  orderMode
		want   counts
	}{
		{name: "InOrderIsOK", source: src(a1, b1, a2), dests: []kinesisio.ShardRecords{dst(s0, 1, a1, a2, b1)},
			want: counts{ok: true}},
		{name: "MissingRecord", source: src(a1, a2, b1), dests: []kinesisio.ShardRecords{dst(s0, 1, a1, b1)},
			want: counts{missing: 1}},
		{name: "DuplicateIsCountedNotFailed", source: src(a1, a2), dests: []kinesisio.ShardRecords{dst(s0, 1, a1, a1, a2)},
			want: counts{dups: 1, ok: true}},
		{name: "UnexpectedRecord", source: src(a1), dests: []kinesisio.ShardRecords{dst(s0, 1, a1, junk)},
			want: counts{unexpected: 1}},
		{name: "MisroutedRecord", source: src(a1, a2), dests: []kinesisio.ShardRecords{wrongPK},
			want: counts{misrouted: 1}},
		{name: "PartitionKeyMustBeLowercaseHex", source: src(a1), dests: []kinesisio.ShardRecords{upperPK},
			want: counts{misrouted: 1}},
		{name: "FirstOccurrencesOutOfOrder", source: src(a1, a2), dests: []kinesisio.ShardRecords{dst(s0, 1, a2, a1)},
			want: counts{first: 1, last: 1}},
		// Replay: A1 A2 then A1 again. A consumer applying full row
		// images ends on A1: first deliveries are in order, last are not.
		{name: "ReplayBreaksLastOrderOnly", source: src(a1, a2), dests: []kinesisio.ShardRecords{dst(s0, 1, a1, a2, a1)},
			want: counts{dups: 1, last: 1, ok: true}},
		{name: "ReplayFailsOrderLast", source: src(a1, a2), dests: []kinesisio.ShardRecords{dst(s0, 1, a1, a2, a1)},
			order: orderLast, want: counts{dups: 1, last: 1}},
		{name: "ReplayFailsOrderBoth", source: src(a1, a2), dests: []kinesisio.ShardRecords{dst(s0, 1, a1, a2, a1)},
			order: orderBoth, want: counts{dups: 1, last: 1}},
		// A full replay of the key repeats both: last deliveries in order.
		{name: "FullReplayKeepsLastOrder", source: src(a1, a2), dests: []kinesisio.ShardRecords{dst(s0, 1, a1, a2, a1, a2)},
			order: orderBoth, want: counts{dups: 2, ok: true}},
		{name: "LateFirstOccurrenceViolatesFirstOnly", source: src(a1, a2, a3),
			dests: []kinesisio.ShardRecords{dst(s0, 1, a1, a3, a2, a3)}, order: orderLast,
			want: counts{dups: 1, first: 1, ok: true}},
		{name: "OrderIsPerKey", source: src(a1, b1, a2), dests: []kinesisio.ShardRecords{dst(s0, 1, b1, a1, a2)},
			order: orderBoth, want: counts{ok: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, tc.order, tc.source, tc.dests...)
			if got := countsOf(r); got != tc.want {
				t.Fatalf("got %+v, want %+v\nreport %+v", got, tc.want, r)
			}
			if r.Order != tc.order.String() || !r.Final {
				t.Fatalf("order %q final %v, want %q true", r.Order, r.Final, tc.order)
			}
		})
	}
}

// TestChecker_DestinationLineage: a key's deliveries in a parent shard come
// before those in its children whatever their sequence numbers, and keys
// in unrelated shards are split keys judged by sequence number.
func TestChecker_DestinationLineage(t *testing.T) {
	a1, a2, a3, b1 := row(1, 1), row(1, 2), row(1, 3), row(2, 1)
	parent := shard("shardId-000000000000")
	left, right := shard("shardId-000000000001", "shardId-000000000000"), shard("shardId-000000000002", "shardId-000000000000")
	other := shard("shardId-000000000009")
	merged := shard("shardId-000000000003", "shardId-000000000001", "shardId-000000000002")

	for _, tc := range []struct {
		name  string
		dests []kinesisio.ShardRecords
		want  counts
	}{
		// The child's sequence numbers are lower than the parent's:
		// lineage, not sequence numbers, orders them.
		{name: "ParentBeforeChild", dests: []kinesisio.ShardRecords{dst(parent, 900, a1, b1), dst(left, 100, a2, a3)},
			want: counts{ok: true}},
		{name: "ChildBeforeParentIsViolation", dests: []kinesisio.ShardRecords{dst(parent, 100, a2, b1), dst(left, 900, a1, a3)},
			want: counts{first: 1, last: 1}},
		{name: "ReadingOrderDoesNotMatter", dests: []kinesisio.ShardRecords{dst(left, 100, a2, a3), dst(parent, 900, a1, b1)},
			want: counts{ok: true}},
		{name: "GrandchildThroughMerge", dests: []kinesisio.ShardRecords{
			dst(parent, 900, a1, b1), dst(right, 500, a2), dst(left, 600), dst(merged, 10, a3)},
			want: counts{ok: true}},
		{name: "ReplayAcrossSplit", dests: []kinesisio.ShardRecords{
			dst(parent, 900, a1, a2, b1), dst(left, 100, a1, a2, a3)},
			want: counts{dups: 2, ok: true}},
		{name: "UnrelatedShardsBySequenceNumber", dests: []kinesisio.ShardRecords{
			dst(other, 50, a1), dst(parent, 100, a2, b1), dst(left, 10, a3)},
			want: counts{split: 1, ok: true}},
		{name: "UnrelatedShardsOutOfSequence", dests: []kinesisio.ShardRecords{
			dst(other, 500, a1), dst(parent, 100, a2, b1), dst(left, 10, a3)},
			want: counts{split: 1, first: 1, last: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, orderBoth, src(a1, b1, a2, a3), tc.dests...)
			if got := countsOf(r); got != tc.want {
				t.Fatalf("got %+v, want %+v\nreport %+v", got, tc.want, r)
			}
		})
	}
}

// TestChecker_SourceLineage: the source is judged in the order records are
// added, parents before children, as ReadAll and Follow add them.
func TestChecker_SourceLineage(t *testing.T) {
	a1, a2 := row(1, 1), row(1, 2)
	c := newChecker(testRules, checkerOptions{})
	parent := src(a1)
	child := src(a2)
	child.Shard = shard("shardId-child", "shardId-src")
	for _, sr := range []kinesisio.ShardRecords{parent, child} {
		if err := c.addSource(sr); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.addDest(dst(shard("d0"), 1, a2, a1)); err != nil {
		t.Fatal(err)
	}
	if r := c.report(time.Now(), true); r.OrderViolations != 1 || r.Keys != 1 {
		t.Fatalf("%+v: want 1 order violation over 1 key", r)
	}
}

// TestChecker_InvalidRecordsKeyedBySourcePartitionKey: an invalid record
// travels under XXH64 of its source partition key.
func TestChecker_InvalidRecordsKeyedBySourcePartitionKey(t *testing.T) {
	bad1, bad2, bad3 := []byte("not json 1"), []byte("not json 2"), []byte(`{"metadata":{"record-type":"DATA"}}`)
	source := src(bad1, bad2, bad3)
	source.Records[2].PartitionKey = aws.String("OTHERTASK")
	under := func(pk string, seq int, data []byte) types.Record {
		return types.Record{Data: data, PartitionKey: pkOf(repartition.Hash([]byte(pk))), SequenceNumber: seqN(seq)}
	}
	s0 := shard("shardId-000000000000")

	t.Run("RoutedBySourceKey", func(t *testing.T) {
		r := check(t, orderBoth, source, kinesisio.ShardRecords{Shard: s0, Records: []types.Record{
			under("LOADTASK", 1, bad1), under("OTHERTASK", 2, bad3), under("LOADTASK", 3, bad2)}})
		if got := countsOf(r); got != (counts{ok: true}) || r.Keys != 2 {
			t.Fatalf("%+v: want ok over 2 keys", r)
		}
	})
	t.Run("OutOfOrderUnderOneSourceKey", func(t *testing.T) {
		r := check(t, orderFirst, source, kinesisio.ShardRecords{Shard: s0, Records: []types.Record{
			under("LOADTASK", 1, bad2), under("LOADTASK", 2, bad1), under("OTHERTASK", 3, bad3)}})
		if r.OrderViolations != 1 || r.OK {
			t.Fatalf("%+v: want 1 order violation", r)
		}
	})
	t.Run("UnderAnotherKeyIsMisrouted", func(t *testing.T) {
		r := check(t, orderFirst, source, kinesisio.ShardRecords{Shard: s0, Records: []types.Record{
			under("LOADTASK", 1, bad1), under("LOADTASK", 2, bad2), under("LOADTASK", 3, bad3)}})
		if r.Misrouted != 1 || r.OK {
			t.Fatalf("%+v: want 1 misrouted", r)
		}
	})
}

// TestChecker_IdenticalPayloads: records with one payload are told apart by
// delivery count, so a replay of both is two duplicates, not disorder.
func TestChecker_IdenticalPayloads(t *testing.T) {
	x := row(1, 1)
	r := check(t, orderBoth, src(x, x), dst(shard("d0"), 1, x, x, x, x))
	if got := countsOf(r); got != (counts{dups: 2, ok: true}) {
		t.Fatalf("%+v", r)
	}
	r = check(t, orderBoth, src(x, x), dst(shard("d0"), 1, x))
	if got := countsOf(r); got != (counts{missing: 1}) {
		t.Fatalf("%+v", r)
	}
}

// TestChecker_FollowPendingUntilGrace: in follow mode an undelivered source
// record is pending until grace, and a destination record read before its
// source record waits for it.
func TestChecker_FollowPendingUntilGrace(t *testing.T) {
	a1, a2, b1 := row(1, 1), row(1, 2), row(2, 1)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	grace := time.Minute
	at := func(sr kinesisio.ShardRecords, ts time.Time) kinesisio.ShardBatch {
		for i := range sr.Records {
			sr.Records[i].ApproximateArrivalTimestamp = aws.Time(ts)
		}
		return kinesisio.ShardBatch{Shard: sr.Shard, Records: sr.Records}
	}
	d0 := shard("shardId-000000000000")

	c := newChecker(testRules, checkerOptions{follow: true, grace: grace})
	if err := c.onSource(at(src(a1, a2), t0), t0); err != nil {
		t.Fatal(err)
	}
	// b1 reaches the destination before the checker reads it in the source.
	c.onDest(at(dst(d0, 1, a1, b1), t0), t0.Add(time.Second))
	r := c.report(t0.Add(10*time.Second), false)
	if r.Pending != 1 || r.LagRecords != 1 || r.Missing != 0 || r.UnexpectedPending != 1 || r.Unexpected != 0 || !r.OK {
		t.Fatalf("before b1 is read: %+v", r)
	}
	if r.OldestMissingAgeMs != 10_000 {
		t.Fatalf("oldest_missing_age_ms %d, want 10000", r.OldestMissingAgeMs)
	}
	b1src := src(b1)
	b1src.Records[0].SequenceNumber = seqN(3)
	if err := c.onSource(at(b1src, t0.Add(time.Second)), t0.Add(11*time.Second)); err != nil {
		t.Fatal(err)
	}
	r = c.report(t0.Add(12*time.Second), false)
	if r.UnexpectedPending != 0 || r.LagRecords != 1 || r.Misrouted != 0 || !r.OK {
		t.Fatalf("after b1 is read: %+v", r)
	}
	// a2 stays undelivered past grace: missing.
	r = c.report(t0.Add(grace+time.Second), true)
	if r.Missing != 1 || r.Pending != 0 || r.LagRecords != 1 || r.OK || !r.Final {
		t.Fatalf("past grace: %+v", r)
	}
	// Delivered late, it is no longer missing.
	c.onDest(at(dst(d0, 3, a2), t0), t0.Add(2*time.Minute))
	if r = c.report(t0.Add(2*time.Minute), false); r.Missing != 0 || r.LagRecords != 0 || r.OldestMissingAgeMs != 0 || !r.OK {
		t.Fatalf("after late delivery: %+v", r)
	}
	// A destination record nothing in the source explains: unexpected
	// once grace has passed.
	c.onDest(at(dst(d0, 4, row(3, 1)), t0), t0.Add(3*time.Minute))
	if r = c.report(t0.Add(3*time.Minute), false); r.UnexpectedPending != 1 || r.Unexpected != 0 || !r.OK {
		t.Fatalf("unmatched within grace: %+v", r)
	}
	if r = c.report(t0.Add(5*time.Minute), false); r.UnexpectedPending != 0 || r.Unexpected != 1 || r.OK {
		t.Fatalf("unmatched past grace: %+v", r)
	}
}

// TestChecker_FollowOrphansJudgedByPosition: destination records matched
// late (their source read after them) are judged by where they sit, not by
// when they were matched.
func TestChecker_FollowOrphansJudgedByPosition(t *testing.T) {
	a1, a2 := row(1, 1), row(1, 2)
	now := time.Now()
	c := newChecker(testRules, checkerOptions{follow: true, grace: time.Minute, order: orderBoth})
	sr := src(a1, a2)
	if err := c.onSource(kinesisio.ShardBatch{Records: sr.Records[:1]}, now); err != nil {
		t.Fatal(err)
	}
	d := dst(shard("d0"), 1, a1, a2, a1, a2) // a full replay
	c.onDest(kinesisio.ShardBatch{Shard: d.Shard, Records: d.Records}, now)
	if err := c.onSource(kinesisio.ShardBatch{Records: sr.Records[1:]}, now); err != nil {
		t.Fatal(err)
	}
	if r := c.report(now, true); countsOf(r) != (counts{dups: 2, ok: true}) || r.UnexpectedPending != 0 {
		t.Fatalf("%+v", r)
	}
}

// TestChecker_ControlRecordCopies: the relay writes each control record
// to every destination shard; the copy on the shard holding the key's
// hash is the delivery, the others are control_copies, not duplicates or
// split keys.
func TestChecker_ControlRecordCopies(t *testing.T) {
	ct := []byte(`{"control":{"table-def":{"columns":{"id":{"type":"INT64"}},"primary-key":["id"]}},"metadata":{"record-type":"control","operation":"create-table","schema-name":"shop","table-name":"orders"}}`)
	a1, a2 := row(1, 1), row(1, 2)
	half := "170141183460469231731687303715884105728" // 2^127
	ranged := func(id, lo, hi string) types.Shard {
		s := shard(id)
		s.HashKeyRange = &types.HashKeyRange{StartingHashKey: aws.String(lo), EndingHashKey: aws.String(hi)}
		return s
	}
	low := ranged("shardId-000000000000", "0", "170141183460469231731687303715884105727")
	high := ranged("shardId-000000000001", half, "340282366920938463463374607431768211455")
	home, away := low, high
	if routeKey(ct)>>63 == 1 {
		home, away = high, low
	}
	rowHome := low
	if routeKey(a1)>>63 == 1 {
		rowHome = high
	}
	dests := func(extra ...[]byte) []kinesisio.ShardRecords {
		out := []kinesisio.ShardRecords{dst(away, 1, ct), dst(home, 10, append([][]byte{ct}, extra...)...)}
		return append(out, dst(rowHome, 100, a1, a2))
	}
	r := check(t, orderBoth, src(ct, a1, a2), dests()...)
	if got := countsOf(r); got != (counts{ok: true}) || r.ControlCopies != 1 {
		t.Fatalf("%+v: want ok with 1 control copy", r)
	}
	r = check(t, orderBoth, src(ct, a1, a2), dests(ct)...)
	if got := countsOf(r); got != (counts{dups: 1, ok: true}) || r.ControlCopies != 1 {
		t.Fatalf("%+v: want a duplicate on the home shard and 1 control copy", r)
	}
	r = check(t, orderBoth, src(ct, a1, a2), dst(away, 1, ct), dst(rowHome, 100, a1, a2))
	if r.Missing != 1 || r.ControlCopies != 1 || r.OK {
		t.Fatalf("%+v: only a copy arrived; want it missing", r)
	}
}

func TestChecker_ParsesBigDecimals(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1", "2", -1},
		{"49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692538361571095921575989136588899", -1},
		{"49590338271490256608559692538361571095921575989136588898", "9590338271490256608559692538361571095921575989136588898", 1},
		{"00012", "12", 0},
		{"18446744073709551616", "18446744073709551615", 1}, // 2^64 vs 2^64-1
		{"340282366920938463463374607431768211456", "340282366920938463463374607431768211455", 1},
	} {
		if got := parseU192(tc.a).cmp(parseU192(tc.b)); got != tc.want {
			t.Errorf("cmp(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestVerify_ReportKeepsFieldNames: existing field names never change.
func TestVerify_ReportKeepsFieldNames(t *testing.T) {
	b, err := json.Marshal(check(t, orderFirst, src(row(1, 1)), dst(shard("d0"), 1, row(1, 1))))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"source_records", "dest_records", "missing", "duplicates", "unexpected", "order_violations",
		"misrouted", "keys", "shards_used", "dest_shards", "dest_shard_records", "ok",
		"last_order_violations", "split_keys", "control_copies", "pending", "lag_records", "oldest_missing_age_ms", "unexpected_pending", "order", "final"} {
		if _, ok := m[f]; !ok {
			t.Errorf("field %s missing from %s", f, b)
		}
	}
	if !bytes.Contains(b, []byte(`"ok":true`)) { // scripts/demo.sh greps for it
		t.Errorf("%s lacks \"ok\":true", b)
	}
}

// TestVerify_FlagsReportEveryMistake: bad flags exit 2 naming each.
func TestVerify_FlagsReportEveryMistake(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"verify", "--order", "sideways", "--interval", "1ms", "--grace", "-1s", "--poll-interval", "10ms"},
		func(string) string { return "" }, stdio{strings.NewReader(""), &out, &errb}, nil)
	if code := exitCode(err, io.Discard); code != 2 {
		t.Fatalf("exit %d, want 2 (%v)", code, err)
	}
	for _, want := range []string{"source and dest", "order \"sideways\"", "interval 1ms", "grace -1s", "poll-interval 10ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// BenchmarkChecker runs n loadgen records through a checker, source then
// destination, as a batch verify does, and reports the heap it keeps per
// source record.
func BenchmarkChecker(b *testing.B) {
	const n = 100_000
	cfg := loadgen.DefaultConfig()
	g, err := loadgen.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	router := repartition.NewRouter(nil, repartition.Learned{})
	var d repartition.Decision
	t0 := time.Now()
	source := kinesisio.ShardRecords{Shard: shard("shardId-src")}
	dest := kinesisio.ShardRecords{Shard: shard("shardId-000000000000")}
	for i := range n {
		data := bytes.Clone(g.Next().Data)
		router.Route(data, &d)
		source.Records = append(source.Records, types.Record{Data: data, PartitionKey: aws.String("LOADTASK"),
			SequenceNumber: seqN(i), ApproximateArrivalTimestamp: aws.Time(t0)})
		dest.Records = append(dest.Records, types.Record{Data: data, PartitionKey: pkOf(d.Key), SequenceNumber: seqN(i)})
	}
	run := func() *checker {
		c := newChecker(nil, checkerOptions{})
		if err := c.addSource(source); err != nil {
			b.Fatal(err)
		}
		if err := c.addDest(dest); err != nil {
			b.Fatal(err)
		}
		if r := c.report(t0, true); !r.OK || r.SourceRecords != n {
			b.Fatalf("%+v", r)
		}
		return c
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := run()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/record")
}

// --- against a real kinesalite ---

// lockedBuffer collects the output of processes running at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// background starts a repartd command that outlives the call; it is
// killed and reaped when the test ends unless it exited.
func background(t *testing.T, e *env, logs io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.vars
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// TestVerify_FollowSeesLagDrainAndStopsOnSignal runs `verify --follow`
// while records are written: first with no relay (lag equals what was
// written, pending and not missing), then with the relay running (lag
// falls to 0), and stops it with SIGTERM (a final ok line, exit 0).
func TestVerify_FollowSeesLagDrainAndStopsOnSignal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	e := newEnv(t, 4)
	logs := &lockedBuffer{} // e.logs is for one process at a time
	load := func(schema string, seed int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, binary, "load", "--stream", e.src, "--records", "400", "--rows", "40",
			"--tables", "4", "--schema", schema, "--seed", fmt.Sprint(seed))
		cmd.Env, cmd.Stderr = e.vars, logs
		if err := cmd.Run(); err != nil {
			t.Fatalf("load: %v\n%s", err, tail(logs.String(), 20))
		}
	}

	cmd := exec.CommandContext(ctx, binary, "verify", "--source", e.src, "--dest", e.dst, "--follow",
		"--interval", "250ms", "--poll-interval", "200ms", "--shard-refresh", "1s", "--grace", "1m")
	cmd.Env = e.vars
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan Report)
	readDone := make(chan struct{})
	t.Cleanup(func() { // on failure: kill verify, then reap it
		cancel()
		<-readDone
		if cmd.ProcessState == nil {
			_ = cmd.Wait()
		}
	})
	go func() { // ends when verify exits (stdout closes) or the test ends
		defer close(readDone)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r Report
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Errorf("progress line %q: %v", sc.Text(), err)
				return
			}
			select {
			case lines <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	waitFor := func(what string, ok func(Report) bool) Report {
		t.Helper()
		for {
			select {
			case r, open := <-lines:
				if !open {
					t.Fatalf("verify exited while waiting for %s\n%s", what, tail(logs.String(), 20))
				}
				if r.Final {
					t.Fatalf("final line while waiting for %s: %+v", what, r)
				}
				if ok(r) {
					return r
				}
			case <-ctx.Done():
				t.Fatalf("no progress line with %s in time\n%s", what, tail(logs.String(), 20))
			}
		}
	}

	load("shop", 1)
	r := waitFor("lag of 400", func(r Report) bool { return r.SourceRecords == 400 && r.LagRecords == 400 })
	if r.Pending != 400 || r.Missing != 0 || r.OldestMissingAgeMs <= 0 || !r.OK {
		t.Fatalf("with no relay: %+v; want 400 pending, none missing, ok", r)
	}

	background(t, e, logs, "run", "--source", e.src, "--dest", e.dst, "--checkpoint", e.ckptDir, "--log-interval", "500ms")
	load("shop2", 2)
	r = waitFor("lag 0 over 800 records", func(r Report) bool {
		return r.SourceRecords == 800 && r.LagRecords == 0 && r.DestRecords >= 800
	})
	if !r.OK || r.OldestMissingAgeMs != 0 || r.OrderViolations != 0 || r.LastOrderViolations != 0 ||
		r.SplitKeys != 0 || r.UnexpectedPending != 0 || r.ShardsUsed == 0 {
		t.Fatalf("caught up: %+v", r)
	}
	t.Logf("caught up: %d records, %d control copies, %d dest shards used", r.SourceRecords, r.ControlCopies, r.ShardsUsed)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var final Report
	for r := range lines {
		final = r
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("verify --follow after SIGTERM: %v (final %+v)\n%s", err, final, tail(logs.String(), 20))
	}
	if !final.Final || !final.OK || final.SourceRecords != 800 || final.LagRecords != 0 || final.Missing != 0 {
		t.Fatalf("final line %+v: want final, ok, 800 records, no lag", final)
	}
	for _, marker := range []string{"generated by repartd load", "customer_id", `"data":`, "EUR"} {
		if strings.Contains(logs.String(), marker) {
			t.Fatalf("logs contain record payload (%q)", marker)
		}
	}
}
