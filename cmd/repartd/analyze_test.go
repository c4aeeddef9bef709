package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/repartd/repartd/bench/loadgen"
	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
	"github.com/repartd/repartd/repartition"
)

// --- synthetic windows: no network ---

// anT0 is the first second of every synthetic window.
var anT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// anWindow builds source shards' records for an analyzer.
type anWindow struct {
	shards   map[string][]types.Record
	order    []string
	payloads [][]byte
	secrets  []string // values that must never appear in any output
}

func newAnWindow() *anWindow { return &anWindow{shards: map[string][]types.Record{}} }

// put adds one record to shard at ms after anT0 under source key pk.
func (w *anWindow) put(shard string, ms int64, pk string, payload []byte) {
	if _, ok := w.shards[shard]; !ok {
		w.order = append(w.order, shard)
	}
	w.shards[shard] = append(w.shards[shard], types.Record{
		Data: payload, PartitionKey: aws.String(pk),
		SequenceNumber:              aws.String(fmt.Sprintf("49%054d", len(w.shards[shard])+1)),
		ApproximateArrivalTimestamp: aws.Time(anT0.Add(time.Duration(ms) * time.Millisecond)),
	})
	w.payloads = append(w.payloads, payload)
}

// change is a DMS data record of schema.table whose key column id holds
// the JSON string idTok, padded with personal-looking data.
func (w *anWindow) change(schema, table, op, idTok string, n int) []byte {
	email := fmt.Sprintf("jane.doe.%d.%s@example.org", n, strings.Trim(idTok, `"`))
	w.secrets = append(w.secrets, email)
	return fmt.Appendf(nil, `{"data":{"id":%s,"email":%q,"full_name":"Jane Q. Doe the %dth","iban":"FR76 3000 6000 0112 3456 7890 %03d"},"metadata":{"timestamp":"2026-03-01T12:00:00.000000Z","record-type":"data","operation":%q,"partition-key-type":"schema-table","schema-name":%q,"table-name":%q}}`,
		idTok, email, n, n%1000, op, schema, table)
}

func createTable(schema, table string, pk ...string) []byte {
	cols, _ := json.Marshal(pk)
	return fmt.Appendf(nil, `{"control":{"table-def":{"columns":{},"primary-key":%s}},"metadata":{"timestamp":"2026-03-01T12:00:00.000000Z","record-type":"control","operation":"create-table","partition-key-type":"task-id","schema-name":%q,"table-name":%q}}`,
		cols, schema, table)
}

// analyze runs an analyzer over the window, shards in the order first
// written, as a TRIM_HORIZON window read to its end.
func (w *anWindow) analyze(t *testing.T, rules *repartition.KeyRules, opt analyzeOptions) analysisReport {
	t.Helper()
	a := newAnalyzer(rules)
	for _, id := range w.order {
		if err := a.add(kinesisio.ShardBatch{Shard: types.Shard{ShardId: aws.String(id)}, Records: w.shards[id]}); err != nil {
			t.Fatal(err)
		}
	}
	return a.report(windowMeta{stream: "dms-cdc", from: types.ShardIteratorTypeTrimHorizon, ended: "caught-up"}, opt)
}

func anRules(t *testing.T, specs ...string) *repartition.KeyRules {
	t.Helper()
	var rs []repartition.KeyRule
	for _, s := range specs {
		r, err := repartition.ParseKeyRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	rules, err := repartition.NewKeyRules(rs)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// rowKey is the contract-v1 key of schema.table with raw key tokens.
func rowKey(schema, table string, tokens ...string) uint64 {
	var cols [][]byte
	for _, c := range tokens {
		cols = append(cols, []byte(c))
	}
	return repartition.Hash(repartition.AppendKeyMaterial(nil, []byte(schema), []byte(table), cols...))
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// shopWindow is 10 seconds of a shop: orders keyed by --key with one hot
// row, items keyed by a create-table record, audit with no key known, and
// a few invalid records, all under DMS's one task key.
func shopWindow() *anWindow {
	w := newAnWindow()
	rng := rand.New(rand.NewPCG(1, 2))
	w.put("shardId-000000000000", 0, "TASK", createTable("shop", "items", "id"))
	n := 0
	for ms := int64(0); ms < 10_000; ms += 10 { // 100 rec/s of orders
		n++
		id := fmt.Sprintf(`"ord-%04d"`, rng.IntN(500))
		if n%5 == 0 {
			id = `"ord-hot-7"` // 20 rec/s
		}
		op := []string{"insert", "update", "update", "delete"}[n%4]
		w.put("shardId-000000000000", ms, "TASK", w.change("shop", "orders", op, id, n))
	}
	for ms := int64(5); ms < 10_000; ms += 50 { // 20 rec/s of items
		n++
		w.put("shardId-000000000000", ms, "TASK", w.change("shop", "items", "update", fmt.Sprintf(`"sku-%03d"`, rng.IntN(50)), n))
	}
	for ms := int64(7); ms < 10_000; ms += 100 { // 10 rec/s of audit
		n++
		w.put("shardId-000000000000", ms, "TASK", w.change("shop", "audit", "insert", fmt.Sprintf(`"aud-%d"`, n), n))
	}
	for i := range 3 { // invalid: not JSON, personal data inside
		secret := fmt.Sprintf("john.smith.%d@example.net", i)
		w.secrets = append(w.secrets, secret)
		w.put("shardId-000000000000", int64(9000+i), "TASK", fmt.Appendf(nil, `{"data":{"id":1 "email":'%s'}`, secret))
	}
	return w
}

func findTable(r analysisReport, schema, table string) *tableReport {
	for i := range r.Tables {
		if r.Tables[i].Schema == schema && r.Tables[i].Table == table {
			return &r.Tables[i]
		}
	}
	return nil
}

func TestAnalyze_TablesOperationsAndKeySources(t *testing.T) {
	r := shopWindow().analyze(t, anRules(t, "shop.orders=id"), analyzeOptions{roundTrip: 20 * time.Millisecond})
	if r.Records != 1000+200+100+3+1 || r.DataRecords != 1300 || r.ControlRecords != 1 || r.InvalidRecords != 3 {
		t.Fatalf("records %d (data %d, control %d, invalid %d), want 1304 (1300, 1, 3)", r.Records, r.DataRecords, r.ControlRecords, r.InvalidRecords)
	}
	if r.WindowS != 10 {
		t.Fatalf("window %v s, want the 10 calendar seconds the arrivals span", r.WindowS)
	}
	orders := findTable(r, "shop", "orders")
	if orders == nil || orders.Records != 1000 || orders.KeySource != "columns" || orders.Fallback ||
		orders.Operations["insert"] != 250 || orders.Operations["update"] != 500 || orders.Operations["delete"] != 250 || !near(orders.RecordsPerS, 100, 1e-9) {
		t.Fatalf("orders: %+v", orders)
	}
	items := findTable(r, "shop", "items")
	if items == nil || items.Records != 200 || items.ControlRecords != 1 || items.KeySource != "learned" ||
		strings.Join(items.KeyColumns, ",") != "id" || items.Operations["create-table"] != 1 {
		t.Fatalf("items: %+v", items)
	}
	audit := findTable(r, "shop", "audit")
	if audit == nil || audit.KeySource != "table" || !audit.Fallback || audit.Keys != 1 {
		t.Fatalf("audit: %+v", audit)
	}
	if fb := r.Recommendation.FallbackTables; len(fb) != 1 || fb[0].Table != "audit" || !near(fb[0].RecordsPerS, 10, 1e-9) {
		t.Fatalf("fallback tables %+v, want shop.audit at 10 rec/s", fb)
	}
	if inv := findTable(r, "", "(invalid)"); inv == nil || inv.Records != 3 || inv.Keys != 1 {
		t.Fatalf("invalid row: %+v", inv)
	}
	if len(r.InvalidReasons) == 0 {
		t.Fatal("no invalid reasons")
	}
	if r.Tables[0].Table != "orders" {
		t.Fatalf("tables not busiest first: %s first", r.Tables[0].Table)
	}
	p := r.Partitioning
	if p.Scheme != "one key" || p.SourceKeys != 1 || p.TopSourceKeyShare != 1 || p.KeyTypes["schema-table"] != 1300 || p.KeyTypes["task-id"] != 1 {
		t.Fatalf("partitioning %+v", p)
	}
	joined := strings.Join(r.Recommendation.Actions, "\n")
	for _, want := range []string{"shop.audit", "--key", "IncludeControlDetails"} {
		if !strings.Contains(joined, want) {
			t.Errorf("actions do not mention %q:\n%s", want, joined)
		}
	}
}

func TestAnalyze_HottestRowsByShareWithTheirKeyHex(t *testing.T) {
	r := shopWindow().analyze(t, anRules(t, "shop.orders=id"), analyzeOptions{roundTrip: 20 * time.Millisecond})
	if len(r.HotKeys) != topKeys {
		t.Fatalf("%d hot keys, want %d", len(r.HotKeys), topKeys)
	}
	h := r.HotKeys[0]
	want := keyHex(rowKey("shop", "orders", `"ord-hot-7"`))
	// 200 changes plus the ones the uniform choice gave it (none: ids are ord-NNNN).
	if h.Key != want || h.Schema != "shop" || h.Table != "orders" || h.Records != 200 || h.KeySource != "columns" ||
		!near(h.RecordsPerS, 20, 1e-9) || h.PeakRecordsPerS != 20 {
		t.Fatalf("hottest %+v, want shop.orders %s with 200 records at 20 rec/s", h, want)
	}
	// The table-level key of audit is one key with all its 100 changes.
	if h2 := r.HotKeys[1]; h2.Table != "audit" || h2.Records != 100 || h2.Key != keyHex(rowKey("shop", "audit")) || h2.KeySource != "table" {
		t.Fatalf("second %+v, want shop.audit's table-level key", h2)
	}
	for i := 1; i < len(r.HotKeys); i++ {
		if r.HotKeys[i].Records > r.HotKeys[i-1].Records {
			t.Fatalf("hot keys not in share order at %d", i)
		}
	}
	if h.OverStrictCap || h.BurstsOverStrictCap {
		t.Fatalf("20 rec/s flagged against a 50 rec/s cap: %+v", h)
	}
}

func TestAnalyze_StrictCapFollowsTheRoundTrip(t *testing.T) {
	w := newAnWindow()
	// Key a: 80 rec/s steadily. Key b: 30 rec/s on average, 120 in one second.
	for ms := int64(0); ms < 5000; ms += 12 {
		w.put("s0", ms, "T", w.change("shop", "orders", "update", `"a"`, int(ms)))
	}
	for i := range 120 {
		w.put("s0", 2000+int64(i)*8, "T", w.change("shop", "orders", "update", `"b"`, i))
	}
	for i := range 30 {
		w.put("s0", int64(i)*160, "T", w.change("shop", "orders", "update", `"b"`, 1000+i))
	}
	for _, tc := range []struct {
		name                    string
		rt                      time.Duration
		cap                     float64
		aOver, bOver, bBursts   bool
		overPeak, overMeanCount int
	}{
		{"20ms", 20 * time.Millisecond, 50, true, false, true, 2, 1},
		{"5ms", 5 * time.Millisecond, 200, false, false, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.analyze(t, anRules(t, "shop.orders=id"), analyzeOptions{roundTrip: tc.rt})
			if r.Limits.StrictKeyMaxPerS != tc.cap {
				t.Fatalf("strict cap %v, want %v", r.Limits.StrictKeyMaxPerS, tc.cap)
			}
			keys := map[string]hotKey{}
			for _, h := range r.HotKeys {
				keys[h.Key] = h
			}
			a, b := keys[keyHex(rowKey("shop", "orders", `"a"`))], keys[keyHex(rowKey("shop", "orders", `"b"`))]
			if a.OverStrictCap != tc.aOver || b.OverStrictCap != tc.bOver || b.BurstsOverStrictCap != tc.bBursts {
				t.Fatalf("a %+v\nb %+v", a, b)
			}
			if r.Recommendation.KeysOverStrictCap != tc.overPeak || r.Recommendation.KeysOverStrictCapMean != tc.overMeanCount {
				t.Fatalf("keys over the cap: %d at peak, %d on average", r.Recommendation.KeysOverStrictCap, r.Recommendation.KeysOverStrictCapMean)
			}
		})
	}
}

func TestAnalyze_SourceShardLoadAndHotFlag(t *testing.T) {
	w := newAnWindow()
	big := strings.Repeat("x", 2700)
	for s := range int64(5) {
		for i := range int64(900) { // 900 rec/s: 90% of the record limit
			w.put("hot-by-records", s*1000+i, "T", w.change("a", "t", "update", fmt.Sprintf(`"%d"`, i), int(i)))
		}
		for i := range int64(300) {
			w.put("cool", s*1000+i*3, "T", w.change("a", "u", "update", fmt.Sprintf(`"%d"`, i), int(i)))
		}
		for i := range int64(400) { // 400 × ~2.9 KB: over 80% of 1 MiB/s
			w.put("hot-by-bytes", s*1000+i*2, "T", []byte(fmt.Sprintf(`{"data":{"id":%d,"pad":"%s"},"metadata":{"record-type":"data","operation":"insert","schema-name":"a","table-name":"v"}}`, i, big)))
		}
	}
	r := w.analyze(t, nil, analyzeOptions{})
	got := map[string]shardLoad{}
	for _, s := range r.SourceShards {
		got[s.ShardID] = s
	}
	if s := got["hot-by-records"]; !s.Hot || s.Records != 4500 || s.PeakRecordsPerS != 900 || !near(s.RecordsPerS, 900, 1e-9) || !near(s.PeakShare, 0.9, 1e-9) {
		t.Errorf("hot-by-records: %+v", s)
	}
	if s := got["cool"]; s.Hot || s.PeakRecordsPerS != 300 {
		t.Errorf("cool: %+v", s)
	}
	if s := got["hot-by-bytes"]; !s.Hot || s.PeakRecordsPerS != 400 || s.PeakBytesPerS < 0.8*shardBytesPerS {
		t.Errorf("hot-by-bytes: %+v", s)
	}
	if len(r.HotSourceShards) != 2 {
		t.Errorf("hot shards %v, want hot-by-records and hot-by-bytes", r.HotSourceShards)
	}
	if !strings.Contains(r.Recommendation.Actions[0], "Hot source shard") {
		t.Errorf("first action %q, want the hot shard", r.Recommendation.Actions[0])
	}
}

func TestAnalyze_PartitionKeyScheme(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pk     func(table string, i int) string
		scheme string
		keys   int
	}{
		{"OneKey", func(string, int) string { return "TASK" }, "one key", 1},
		{"PerTable", func(table string, _ int) string { return "shop." + table }, "per table", 3},
		{"PerRow", func(table string, i int) string { return fmt.Sprintf("shop.%s.%d", table, i) }, "varies within tables", 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newAnWindow()
			for i := range 30 {
				table := []string{"a", "b", "c"}[i%3]
				w.put("s0", int64(i), tc.pk(table, i), w.change("shop", table, "update", fmt.Sprint(i), i))
			}
			r := w.analyze(t, nil, analyzeOptions{})
			if r.Partitioning.Scheme != tc.scheme || r.Partitioning.SourceKeys != tc.keys {
				t.Fatalf("partitioning %+v, want %s with %d keys", r.Partitioning, tc.scheme, tc.keys)
			}
		})
	}
}

// uniformWindow is secs seconds of perS records a second over keys rows
// of one table, keyed by --key.
func uniformWindow(perS, secs, keys int) *anWindow {
	w := newAnWindow()
	rng := rand.New(rand.NewPCG(3, 4))
	for s := range secs {
		for i := range perS {
			id := rng.IntN(keys)
			w.put("s0", int64(s*1000+i*1000/perS), "T", []byte(fmt.Sprintf(`{"data":{"id":%d},"metadata":{"record-type":"data","operation":"update","schema-name":"shop","table-name":"orders"}}`, id)))
		}
	}
	return w
}

func TestAnalyze_EvenShardsMatchTheStreamsShardMap(t *testing.T) {
	f := kinesistest.New(kinesistest.WithT(t))
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 3, 5, 7, 16, 100, 999} {
		name := fmt.Sprint("s", n)
		if err := f.CreateStream(name, n); err != nil {
			t.Fatal(err)
		}
		out, err := f.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Shards) != n {
			t.Fatalf("%d shards listed, want %d", len(out.Shards), n)
		}
		index := map[string]int{}
		for i, s := range out.Shards {
			index[aws.ToString(s.ShardId)] = i
		}
		e := newEvenShards(n)
		keys := []uint64{0, 1, math.MaxUint64, math.MaxUint64 - 1}
		step := max(1, n/30)           // ShardForHashKey scans every shard: keep keys × shards small
		for i := 0; i < n; i += step { // keys at and around boundaries
			keys = append(keys, e.hi[i], e.hi[i]-1, e.hi[i]+1)
		}
		for range 20_000 / n {
			keys = append(keys, rng.Uint64())
		}
		for _, k := range keys {
			ehk, _ := new(big.Int).SetString(string(repartition.AppendExplicitHashKey(nil, k)), 10)
			want, ok := index[kinesisio.ShardForHashKey(out.Shards, ehk)]
			if !ok {
				t.Fatalf("n=%d key %x: no shard holds it", n, k)
			}
			if got := e.of(k); got != want {
				t.Fatalf("n=%d key %016x: shard %d, want %d", n, k, got, want)
			}
		}
	}
}

func TestAnalyze_ProjectionSizesForThePeakAtTheTarget(t *testing.T) {
	w := uniformWindow(10_000, 4, 20_000)
	rules := anRules(t, "shop.orders=id")
	r := w.analyze(t, rules, analyzeOptions{})
	rec, p := r.Recommendation, r.Projection
	if !rec.DestShardsFit || rec.DestShards < 15 || rec.DestShards > 20 {
		t.Fatalf("recommended %d shards (fit %v), want 15..20 for 10,000 rec/s at 70%%", rec.DestShards, rec.DestShardsFit)
	}
	if p.Shards != rec.DestShards || p.Basis != "recommended" || p.PeakShare > targetShare || p.HotShards != 0 {
		t.Fatalf("projection %d shards (%s), peak share %v, %d hot", p.Shards, p.Basis, p.PeakShare, p.HotShards)
	}
	// Recount the spread independently, through the stream's own map.
	f := kinesistest.New()
	if err := f.CreateStream("d", p.Shards); err != nil {
		t.Fatal(err)
	}
	out, err := f.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]int{}
	for i, s := range out.Shards {
		idx[aws.ToString(s.ShardId)] = i
	}
	counts := make([]int, p.Shards)
	router := repartition.NewRouter(rules, repartition.Learned{})
	var d repartition.Decision
	placed := map[uint64]int{}
	for _, pl := range w.payloads {
		router.Route(pl, &d)
		s, ok := placed[d.Key]
		if !ok {
			ehk, _ := new(big.Int).SetString(string(repartition.AppendExplicitHashKey(nil, d.Key)), 10)
			s = idx[kinesisio.ShardForHashKey(out.Shards, ehk)]
			placed[d.Key] = s
		}
		counts[s]++
	}
	most, total := 0, 0
	for i, s := range p.PerShard {
		if s.Records != counts[i] {
			t.Fatalf("shard %d: %d records projected, %d by the shard map", i, s.Records, counts[i])
		}
		most, total = max(most, counts[i]), total+counts[i]
	}
	if total != 40_000 || !near(p.MaxMeanRatio, float64(most)/(float64(total)/float64(p.Shards)), 1e-9) {
		t.Fatalf("total %d, max/mean %v", total, p.MaxMeanRatio)
	}

	// Asked for 4 shards: each takes ~2,500 rec/s, every one is hot.
	r4 := w.analyze(t, rules, analyzeOptions{destShards: 4})
	if r4.Projection.Shards != 4 || r4.Projection.Basis != "--dest-shards" || r4.Projection.HotShards != 4 || r4.Recommendation.DestShards != rec.DestShards {
		t.Fatalf("--dest-shards 4: %d shards (%s), %d hot, recommended %d", r4.Projection.Shards, r4.Projection.Basis, r4.Projection.HotShards, r4.Recommendation.DestShards)
	}
}

func TestAnalyze_SearchReturnsTheFewestShardsThatFit(t *testing.T) {
	w := uniformWindow(3000, 4, 10_000)
	a := newAnalyzer(anRules(t, "shop.orders=id"))
	for _, id := range w.order {
		_ = a.add(kinesisio.ShardBatch{Shard: types.Shard{ShardId: aws.String(id)}, Records: w.shards[id]})
	}
	r := a.report(windowMeta{from: types.ShardIteratorTypeTrimHorizon}, analyzeOptions{})
	n := r.Recommendation.DestShards
	keys := make([]uint64, len(a.keys))
	for i, k := range a.keys {
		keys[i] = k.key
	}
	p := projector{samples: a.samples, keys: keys, exempt: make([]bool, len(keys)), windowS: r.WindowS}
	if !p.fits(n) || n > 1 && p.fits(n-1) {
		t.Fatalf("recommended %d: fits %v, %d fits %v", n, p.fits(n), n-1, p.fits(n-1))
	}
}

func TestAnalyze_ControlRecordsCountOnEveryDestinationShard(t *testing.T) {
	w := uniformWindow(100, 2, 1000)
	w.put("s0", 500, "T", createTable("shop", "orders", "id"))
	r := w.analyze(t, anRules(t, "shop.orders=id"), analyzeOptions{destShards: 8})
	total := 0
	for _, s := range r.Projection.PerShard {
		total += s.Records
	}
	if total != 200+8 || r.Projection.ControlCopies != 7 {
		t.Fatalf("%d records over 8 shards, %d copies; want 208 and 7", total, r.Projection.ControlCopies)
	}
}

// TestAnalyze_SweepFindsEachGroupsBusiestSecond against a brute-force
// count, with records copied to every group (control records) mixed in.
func TestAnalyze_SweepFindsEachGroupsBusiestSecond(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const groups = 5
	var samples []sample
	for range 3000 {
		s := sample{ms: rng.Int64N(20_000) - 5_000, key: int32(rng.IntN(groups)), size: int32(rng.IntN(100))}
		if rng.IntN(20) == 0 {
			s.key = -1
		}
		samples = append(samples, s)
	}
	slices.SortStableFunc(samples, func(x, y sample) int { return cmp.Compare(x.ms, y.ms) })
	w := newSweep(groups)
	w.run(samples, func(s *sample) int32 {
		if s.key < 0 {
			return -2
		}
		return s.key
	}, destSize)
	type cell struct {
		g   int32
		sec int64
	}
	recs, bytes := map[cell]int{}, map[cell]int64{}
	for _, s := range samples {
		for g := range int32(groups) {
			if s.key == g || s.key < 0 {
				c := cell{g, floorDiv(s.ms, 1000)}
				recs[c]++
				bytes[c] += destSize(&s)
			}
		}
	}
	for g := range int32(groups) {
		wantR, wantB := 0, int64(0)
		for c, n := range recs {
			if c.g == g {
				wantR, wantB = max(wantR, n), max(wantB, bytes[c])
			}
		}
		if w.peakRecs[g] != wantR || w.peakBytes[g] != wantB {
			t.Fatalf("group %d: busiest second %d records, %d bytes; want %d, %d", g, w.peakRecs[g], w.peakBytes[g], wantR, wantB)
		}
	}
}

func TestAnalyze_KeyAlonePastTheShardLimit(t *testing.T) {
	w := uniformWindow(2000, 3, 20_000)
	for s := range int64(3) {
		for i := range int64(1200) { // one row at 1,200 rec/s: no shard can take it
			w.put("s0", s*1000+i*5/6, "T", []byte(`{"data":{"id":"hot"},"metadata":{"record-type":"data","operation":"update","schema-name":"shop","table-name":"orders"}}`))
		}
	}
	r := w.analyze(t, anRules(t, "shop.orders=id"), analyzeOptions{})
	if r.Recommendation.KeysOverShardLimit != 1 || !r.Recommendation.DestShardsFit || r.Recommendation.DestShards > 20 {
		t.Fatalf("recommendation %+v: want one key over the limit, and a size that fits everything else", r.Recommendation)
	}
	if r.HotKeys[0].Key != keyHex(rowKey("shop", "orders", `"hot"`)) || r.HotKeys[0].PeakRecordsPerS != 1200 {
		t.Fatalf("hottest %+v", r.HotKeys[0])
	}
}

func TestAnalyze_CutoffJudgesShardsOverTheSameSpan(t *testing.T) {
	w := newAnWindow()
	for i := range int64(50) { // shard a read up to 4.9s, b up to 9.8s
		w.put("a", i*100, "T", w.change("s", "t", "insert", fmt.Sprint(i), int(i)))
		w.put("b", i*200, "T", w.change("s", "t", "insert", fmt.Sprint(100+i), int(i)))
	}
	win := kinesisio.Window{Ended: kinesisio.WindowRecords, Shards: []kinesisio.WindowShard{
		{Shard: types.Shard{ShardId: aws.String("a")}, State: kinesisio.ShardReading, Records: 50, LastArrival: anT0.Add(4900 * time.Millisecond)},
		{Shard: types.Shard{ShardId: aws.String("b")}, State: kinesisio.ShardReading, Records: 50, LastArrival: anT0.Add(9800 * time.Millisecond)},
	}}
	meta := windowInfo("x", types.ShardIteratorTypeTrimHorizon, win)
	if meta.cutoffMs != anT0.Add(4900*time.Millisecond).UnixMilli() {
		t.Fatalf("cut-off %d, want shard a's last arrival", meta.cutoffMs)
	}
	a := newAnalyzer(nil)
	for _, id := range w.order {
		_ = a.add(kinesisio.ShardBatch{Shard: types.Shard{ShardId: aws.String(id)}, Records: w.shards[id]})
	}
	r := a.report(meta, analyzeOptions{})
	if r.Records != 75 || r.BeyondCutoff != 25 || r.RecordsRead != 100 || len(r.Notes) == 0 {
		t.Fatalf("records %d, beyond %d, read %d, notes %v; want 75, 25, 100 and a note", r.Records, r.BeyondCutoff, r.RecordsRead, r.Notes)
	}
	for _, s := range r.SourceShards {
		if !near(s.RecordsPerS, 10, 1e-9) && s.ShardID == "a" || !near(s.RecordsPerS, 5, 1e-9) && s.ShardID == "b" {
			t.Fatalf("%s: %v rec/s over the common 5s", s.ShardID, s.RecordsPerS)
		}
	}
	// Read to the end (or from LATEST), nothing is cut.
	win.Ended = kinesisio.WindowCaughtUp
	if m := windowInfo("x", types.ShardIteratorTypeTrimHorizon, win); m.cutoffMs != 0 {
		t.Fatalf("caught-up window cut at %d", m.cutoffMs)
	}
	win.Ended = kinesisio.WindowRecords
	if m := windowInfo("x", types.ShardIteratorTypeLatest, win); m.cutoffMs != 0 {
		t.Fatalf("latest window cut at %d", m.cutoffMs)
	}
}

func TestAnalyze_EmptyWindowSaysSo(t *testing.T) {
	r := newAnWindow().analyze(t, nil, analyzeOptions{})
	if r.Records != 0 || len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "no records") || r.Projection.Shards != 1 {
		t.Fatalf("empty window: %+v", r)
	}
	var out bytes.Buffer
	writeTextReport(&out, r)
	if err := writeHTMLReport(filepath.Join(t.TempDir(), "r.html"), r); err != nil {
		t.Fatal(err)
	}
}

// renderAll renders a report in the three formats.
func renderAll(t *testing.T, r analysisReport) map[string]string {
	t.Helper()
	var text bytes.Buffer
	writeTextReport(&text, r)
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := writeHTMLReport(path, r); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"terminal": text.String(), "json": string(js), "html": string(html)}
}

// noPayloadBytes fails if any output holds a secret or any 12-byte slice
// of a payload's data (the row values: everything before "metadata").
func noPayloadBytes(t *testing.T, outputs map[string]string, payloads [][]byte, secrets []string) {
	t.Helper()
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("%s output contains %q", name, s)
			}
		}
		seen := map[string]bool{}
		for _, p := range payloads {
			data := p
			if i := bytes.Index(p, []byte(`"metadata"`)); i > 0 {
				data = p[:i]
			}
			for i := 0; i+12 <= len(data); i++ {
				sub := string(data[i : i+12])
				if seen[sub] {
					continue
				}
				seen[sub] = true
				if strings.Contains(out, sub) {
					t.Fatalf("%s output contains payload bytes %q", name, sub)
				}
			}
		}
	}
}

func TestAnalyze_OutputsHoldNoPayloadBytes(t *testing.T) {
	w := shopWindow()
	// A hostile table name must come out escaped, not as markup.
	w.put("shardId-000000000000", 9500, "TASK", w.change("shop", "<b>x&y</b>", "update", `"k"`, 1))
	r := w.analyze(t, anRules(t, "shop.orders=id"), analyzeOptions{})
	outputs := renderAll(t, r)
	noPayloadBytes(t, outputs, w.payloads, append(w.secrets, `ord-hot-7`, `ord-0`, `sku-0`, `aud-`))
	// ... while the hot row is named by its hex key.
	hex := keyHex(rowKey("shop", "orders", `"ord-hot-7"`))
	for name, out := range outputs {
		if !strings.Contains(out, hex) {
			t.Errorf("%s output does not name the hottest row's key %s", name, hex)
		}
	}
	if strings.Contains(outputs["html"], "<b>x&y</b>") || !strings.Contains(outputs["html"], "&lt;b&gt;x&amp;y&lt;/b&gt;") {
		t.Errorf("html output does not escape a table name")
	}
}

// TestAnalyze_HTMLIsSelfContained: no scripts, nothing fetched, charts
// that parse as SVG.
func TestAnalyze_HTMLIsSelfContained(t *testing.T) {
	w := shopWindow()
	r := w.analyze(t, anRules(t, "shop.orders=id"), analyzeOptions{destShards: 6})
	html := renderAll(t, r)["html"]
	for _, banned := range []string{"<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "<img"} {
		if strings.Contains(strings.ToLower(html), banned) {
			t.Errorf("html report holds %q", banned)
		}
	}
	urls := regexp.MustCompile(`https?://[^"'\s<>]+`).FindAllString(html, -1)
	for _, u := range urls {
		if u != "http://www.w3.org/2000/svg" {
			t.Errorf("html report references %s", u)
		}
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(html, -1)
	if len(svgs) != 4 {
		t.Fatalf("%d SVG charts, want 4 (source shards, tables, hot rows, spread)", len(svgs))
	}
	for _, s := range svgs {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			if _, err := d.Token(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("chart is not well-formed XML: %v\n%.300s", err, s)
				}
				break
			}
		}
	}
	if !strings.Contains(html, "shop.orders") || !strings.Contains(html, "6 destination shards") {
		t.Errorf("html report misses its content")
	}
}

func TestAnalyze_TerminalReportIsAligned(t *testing.T) {
	r := shopWindow().analyze(t, anRules(t, "shop.orders=id"), analyzeOptions{destShards: 4})
	text := renderAll(t, r)["terminal"]
	for _, want := range []string{"SOURCE SHARDS", "DMS PARTITIONING", "TABLES", "HOTTEST ROWS", "PROJECTED SPREAD", "RECOMMENDATION", "█"} {
		if !strings.Contains(text, want) {
			t.Errorf("terminal report lacks %q", want)
		}
	}
	// Rows of the spread table line up under their header.
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "shard  records") {
			head := []rune(l)
			for _, row := range lines[i+1 : i+5] {
				if r := []rune(row); len(r) < len(head)-len("busiest second vs limit") {
					t.Fatalf("row %q shorter than its header %q", row, l)
				}
			}
		}
	}
	t.Logf("\n%s", text)
}

func TestAnalyze_FlagErrorsAllAtOnce(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"analyze", "--from", "yesterday", "--records", "-1", "--dest-shards", "-2", "--round-trip", "0s"},
		func(string) string { return "" }, stdio{strings.NewReader(""), &out, &errOut}, nil)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("err %v, want a usage error (exit 2)", err)
	}
	for _, want := range []string{"stream: required", `from "yesterday"`, "records -1", "dest-shards -2", "round-trip 0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// --- against a real kinesalite: the binary, `repartd load` data ---

// loadgenCounts regenerates what `repartd load` wrote: records per table
// (create-table included) and per operation.
func loadgenCounts(t *testing.T, records, rows, tables int, seed uint64) (map[string]int, map[string]map[string]int) {
	t.Helper()
	cfg := loadgen.DefaultConfig()
	cfg.Rows, cfg.Tables, cfg.Seed, cfg.Records = rows, tables, seed, records
	gen, err := loadgen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	perTable, ops := map[string]int{}, map[string]map[string]int{}
	for range records {
		r := gen.Next()
		perTable[r.Table]++
		if ops[r.Table] == nil {
			ops[r.Table] = map[string]int{}
		}
		ops[r.Table][r.Operation]++
	}
	return perTable, ops
}

func (e *env) analyze(args ...string) []byte {
	e.t.Helper()
	return e.repartd(nil, append([]string{"analyze", "--stream", e.src, "--poll-interval", "200ms", "--log-format", "json"}, args...)...)
}

func TestAnalyze_E2E_FindsTheLoadgenHotRow(t *testing.T) {
	const records, rows, seed = 10000, 1000, 11
	e := newEnv(t, 1)
	e.load(records, rows, seed)
	htmlPath := filepath.Join(t.TempDir(), "analyze.html")
	out := e.analyze("--from", "trim-horizon", "--records", fmt.Sprint(records), "--json", "--html", htmlPath)
	var r analysisReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("analyze --json: %v\n%s", err, out)
	}
	if r.Records != records || r.Ended != "records" || r.From != "trim-horizon" {
		t.Fatalf("%d records, ended %s, from %s; want %d, records, trim-horizon", r.Records, r.Ended, r.From, records)
	}
	// loadgen puts ~1% of changes on row id 0 of its first table.
	hot := keyHex(rowKey("shop", loadgen.TableName(0), "0"))
	if h := r.HotKeys[0]; h.Key != hot || h.Table != loadgen.TableName(0) || h.KeySource != "learned" {
		t.Fatalf("hottest row %+v, want shop.%s id 0 (%s)", h, loadgen.TableName(0), hot)
	}
	perTable, ops := loadgenCounts(t, records, rows, 4, seed)
	if len(r.Tables) != 4 {
		t.Fatalf("%d tables, want 4", len(r.Tables))
	}
	for _, tb := range r.Tables {
		if tb.Schema != "shop" || tb.Records+tb.ControlRecords != perTable[tb.Table] || tb.KeySource != "learned" {
			t.Errorf("table %s.%s: %d records (%s), loadgen wrote %d", tb.Schema, tb.Table, tb.Records+tb.ControlRecords, tb.KeySource, perTable[tb.Table])
		}
		for op, n := range ops[tb.Table] {
			if tb.Operations[op] != n {
				t.Errorf("table %s: %d %s, loadgen wrote %d", tb.Table, tb.Operations[op], op, n)
			}
		}
	}
	if r.Partitioning.SourceKeys != 1 || r.Partitioning.Scheme != "one key" || len(r.SourceShards) != 1 || !r.SourceShards[0].Hot {
		t.Fatalf("partitioning %+v, source shards %+v", r.Partitioning, r.SourceShards)
	}
	if r.Recommendation.DestShards < 1 || r.Projection.Shards != r.Recommendation.DestShards {
		t.Fatalf("recommendation %+v, projection over %d", r.Recommendation, r.Projection.Shards)
	}

	// The terminal report of the same window, and a bounded one.
	text := e.analyze("--from", "trim-horizon", "--records", "5000", "--dest-shards", "8")
	for _, want := range []string{"ended: records", "5,000 records", hot, "8 destination shards (--dest-shards)"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("terminal report lacks %q:\n%s", want, text)
		}
	}
	html, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"json": out, "terminal": text, "html": html, "logs": []byte(e.logs.String())} {
		for _, marker := range []string{"generated by repartd load", "customer_id", `"data":`, "EUR", "updated_at"} {
			if bytes.Contains(b, []byte(marker)) {
				t.Fatalf("%s output holds payload content (%q)", name, marker)
			}
		}
	}
	t.Logf("terminal report:\n%s", text)
}

// TestAnalyze_E2E_LatestMeasuresLiveTraffic: the default window sees what
// arrives while it reads, not what was there before.
func TestAnalyze_E2E_LatestMeasuresLiveTraffic(t *testing.T) {
	e := newEnv(t, 1)
	e.load(3000, 500, 3) // before the window: not counted
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "analyze", "--stream", e.src, "--duration", "5s", "--poll-interval", "200ms",
		"--json", "--log-level", "debug", "--log-format", "json")
	cmd.Env = e.vars
	var out bytes.Buffer
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "reading shard") {
		if time.Now().After(deadline) {
			t.Fatalf("analyze never started reading:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // its LATEST iterator is open
	e.repartd(nil, "load", "--stream", e.src, "--records", "1500", "--rows", "5000", "--tables", "2", "--seed", "4", "--rate", "1000")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("analyze: %v\n%s", err, logs.String())
	}
	var r analysisReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("analyze --json: %v\n%s", err, out.String())
	}
	if r.Records != 1500 || r.Ended != "duration" || r.From != "latest" || !near(r.WindowS, 5, 1) {
		t.Fatalf("%d records, ended %s, from %s over %vs; want the 1500 written during a 5s latest window", r.Records, r.Ended, r.From, r.WindowS)
	}
	if h := r.HotKeys[0]; h.Key != keyHex(rowKey("shop", loadgen.TableName(0), "0")) {
		t.Fatalf("hottest row %+v, want shop.%s id 0", h, loadgen.TableName(0))
	}
	// Paced at 1,000 rec/s, the source peaks near its record limit.
	if s := r.SourceShards[0]; s.PeakRecordsPerS < 700 || s.PeakRecordsPerS > 1500 {
		t.Fatalf("source shard peak %v rec/s, want about 1,000", s.PeakRecordsPerS)
	}
}
