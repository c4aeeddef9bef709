package harness

// The harness talks to Kinesis directly in three places, and only there:
// the raw PutRecords loop (workload a: the ceiling is what the SDK itself
// gets), stream creation, and reading both streams back for arrival
// times. It reuses kinesisio's helpers for everything else.

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/cespare/xxhash/v2"

	"github.com/repartd/repartd/bench/loadgen"
	"github.com/repartd/repartd/kinesisio"
)

// Client returns a Kinesis client for endpoint ("" = the SDK's chain).
func Client(ctx context.Context, endpoint string, conns int) (*kinesis.Client, error) {
	return kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: endpoint, MaxConns: conns})
}

// CreateStream creates a provisioned stream and waits until it is ACTIVE.
func CreateStream(ctx context.Context, c *kinesis.Client, name string, shards int) error {
	return kinesisio.CreateStream(ctx, c, name, shards)
}

// DeleteStream deletes a stream, ignoring a missing one.
func DeleteStream(ctx context.Context, c *kinesis.Client, name string) error {
	return kinesisio.DeleteStream(ctx, c, name)
}

// PartitionKeysPerShard returns one partition key per open shard of
// stream, each hashing (MD5, as Kinesis does) into its own shard, in shard
// hash-key order: a loader per source shard.
func PartitionKeysPerShard(ctx context.Context, c *kinesis.Client, stream string) ([]string, error) {
	out, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, fmt.Errorf("list shards of %s: %w", stream, err)
	}
	shards := kinesisio.LineageOrder(out.Shards)
	want := map[string]int{}
	for i, s := range shards {
		want[aws.ToString(s.ShardId)] = i
	}
	keys := make([]string, len(shards))
	found := 0
	for k := 0; found < len(shards) && k < 1_000_000; k++ {
		pk := fmt.Sprintf("DMSTASK-%d", k)
		sum := md5.Sum([]byte(pk))
		id := kinesisio.ShardForHashKey(shards, new(big.Int).SetBytes(sum[:]))
		if i, ok := want[id]; ok && keys[i] == "" {
			keys[i] = pk
			found++
		}
	}
	if found < len(shards) {
		return nil, fmt.Errorf("found partition keys for %d of %d shards", found, len(shards))
	}
	return keys, nil
}

// PutLoop is the raw PutRecords baseline: callers goroutines write
// pre-built batches of DMS rows as fast as the endpoint takes them, until
// maxRecords are written or maxTime has passed.
type PutLoop struct {
	Client     *kinesis.Client
	Stream     string
	Callers    int
	MaxRecords int
	MaxTime    time.Duration
	Batches    [][]types.PutRecordsRequestEntry
}

// PutLoopResult is what the loop achieved.
type PutLoopResult struct {
	Records     int64
	Failed      int64
	Calls       int64
	Elapsed     time.Duration
	RecordsPerS float64
}

// NewBatches builds n batches of size DMS rows from the load generator,
// keyed like repartd keys them (16 hex digits), so the write path carries
// the same bytes as the relay's.
func NewBatches(n, size int) ([][]types.PutRecordsRequestEntry, int, error) {
	cfg := loadgen.DefaultConfig()
	cfg.Seed = 42
	gen, err := loadgen.New(cfg)
	if err != nil {
		return nil, 0, err
	}
	for range cfg.Tables { // skip the create-table records
		gen.Next()
	}
	var batches [][]types.PutRecordsRequestEntry
	bytes := 0
	for range n {
		b := make([]types.PutRecordsRequestEntry, size)
		for i := range b {
			r := gen.Next()
			data := append([]byte(nil), r.Data...)
			bytes += len(data)
			b[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(fmt.Sprintf("%016x", xxhash.Sum64(data)))}
		}
		batches = append(batches, b)
	}
	return batches, bytes / (n * size), nil
}

// Run writes until a bound is reached or ctx ends.
func (l *PutLoop) Run(ctx context.Context) (PutLoopResult, error) {
	ctx, cancel := context.WithTimeout(ctx, l.MaxTime)
	defer cancel()
	var written, failed, calls, next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, l.Callers)
	start := time.Now()
	var last atomic.Int64 // nanoseconds since start of the last successful call
	for c := range l.Callers {
		wg.Add(1)
		go func() { // ends when the bound is reached, ctx ends or a call fails hard
			defer wg.Done()
			i := c
			for ctx.Err() == nil {
				if next.Add(int64(len(l.Batches[0]))) > int64(l.MaxRecords) {
					return
				}
				b := l.Batches[i%len(l.Batches)]
				i++
				out, err := l.Client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(l.Stream), Records: b})
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					errs <- fmt.Errorf("put records: %w", err)
					cancel()
					return
				}
				calls.Add(1)
				f := int64(aws.ToInt32(out.FailedRecordCount))
				failed.Add(f)
				written.Add(int64(len(b)) - f)
				last.Store(int64(time.Since(start)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	res := PutLoopResult{Records: written.Load(), Failed: failed.Load(), Calls: calls.Load(), Elapsed: time.Duration(last.Load())}
	if res.Elapsed > 0 {
		res.RecordsPerS = float64(res.Records) / res.Elapsed.Seconds()
	}
	return res, errors.Join(<-errs)
}

// Arrival is one record as read back: which shard, when it arrived.
type Arrival struct {
	Hash    uint64 // XXH64 of the payload
	Shard   int    // index in lineage (hash-key) order
	Arrived time.Time
	Key     string // PartitionKey
}

// ReadArrivals reads every record of stream from TRIM_HORIZON, with its
// payload hash and ApproximateArrivalTimestamp. keep, if set, is offered
// each payload (for share counting).
func ReadArrivals(ctx context.Context, c *kinesis.Client, stream string, keep func(data []byte)) ([]Arrival, int, error) {
	var out []Arrival
	shard := 0
	err := kinesisio.ReadAll(ctx, c, stream, func(sr kinesisio.ShardRecords) error {
		for i := range sr.Records {
			r := &sr.Records[i]
			a := Arrival{Hash: xxhash.Sum64(r.Data), Shard: shard, Key: aws.ToString(r.PartitionKey)}
			if r.ApproximateArrivalTimestamp != nil {
				a.Arrived = *r.ApproximateArrivalTimestamp
			}
			if keep != nil {
				keep(r.Data)
			}
			out = append(out, a)
		}
		shard++
		return nil
	})
	return out, shard, err
}

// ArrivalSpan is how fast records landed: count ÷ (last − first arrival).
func ArrivalSpan(as []Arrival) (n int, perS float64) {
	if len(as) < 2 {
		return len(as), nanValue()
	}
	first, last := as[0].Arrived, as[0].Arrived
	for _, a := range as {
		if a.Arrived.Before(first) {
			first = a.Arrived
		}
		if a.Arrived.After(last) {
			last = a.Arrived
		}
	}
	span := last.Sub(first).Seconds()
	if span <= 0 {
		return len(as), nanValue()
	}
	return len(as), float64(len(as)) / span
}

// Latencies matches each source record to the first destination record
// with the same payload and returns destination minus source arrival, in
// milliseconds, for every matched record.
func Latencies(src, dst []Arrival) []float64 {
	first := make(map[uint64]time.Time, len(dst))
	for _, d := range dst {
		if t, ok := first[d.Hash]; !ok || d.Arrived.Before(t) {
			first[d.Hash] = d.Arrived
		}
	}
	out := make([]float64, 0, len(src))
	for _, s := range src {
		if t, ok := first[s.Hash]; ok {
			out = append(out, float64(t.Sub(s.Arrived).Microseconds())/1000)
		}
	}
	return out
}

// RowShare tracks how often each row (schema, table, data.id) changes.
type RowShare struct {
	counts map[string]int
	total  int
}

// Add counts one DMS payload; control records count towards no row.
func (r *RowShare) Add(data []byte) {
	var rec struct {
		Data     map[string]json.RawMessage `json:"data"`
		Metadata struct {
			RecordType string `json:"record-type"`
			Schema     string `json:"schema-name"`
			Table      string `json:"table-name"`
		} `json:"metadata"`
	}
	if json.Unmarshal(data, &rec) != nil {
		return
	}
	r.total++
	if rec.Metadata.RecordType != "data" {
		return
	}
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[rec.Metadata.Schema+"\x00"+rec.Metadata.Table+"\x00"+string(rec.Data["id"])]++
}

// Hottest is the hottest row's share of all records counted.
func (r *RowShare) Hottest() float64 {
	_, n := r.hottest()
	if r.total == 0 {
		return nanValue()
	}
	return float64(n) / float64(r.total)
}

func (r *RowShare) hottest() (string, int) {
	best, key := 0, ""
	for k, n := range r.counts {
		if n > best || (n == best && k < key) {
			best, key = n, k
		}
	}
	return key, best
}

// HottestShardShare is the largest share of the data records that one of
// n equal destination shards receives under the routing contract: a row's
// ExplicitHashKey is (key << 64) | key, so its shard is key·n / 2^64.
func (r *RowShare) HottestShardShare(n int) float64 {
	per := make([]int, n)
	for k, c := range r.counts {
		hi, _ := bits.Mul64(xxhash.Sum64String(k), uint64(n))
		per[hi] += c
	}
	if r.total == 0 {
		return nanValue()
	}
	return float64(slices.Max(per)) / float64(r.total)
}

// HottestPartitionKey is the hottest row's contract-v1 PartitionKey: the
// counted key is its key material (schema 0x00 table 0x00 raw id token),
// hashed with XXH64 and printed as 16 hex digits.
func (r *RowShare) HottestPartitionKey() string {
	k, _ := r.hottest()
	return fmt.Sprintf("%016x", xxhash.Sum64String(k))
}
