package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/cespare/xxhash/v2"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/repartition"
)

func cmdVerify(ctx context.Context, args []string, getenv func(string) string, io stdio) error {
	fs := newFlags("verify --source S --dest D [--key ...]",
		"Read both streams from TRIM_HORIZON to their current end and print one JSON summary line.\n"+
			"Exit 1 on any missing or unexpected record, order violation or misrouted record.", io.err)
	var keys keyFlag
	source := fs.String("source", "", "source stream")
	dest := fs.String("dest", "", "destination stream")
	fs.Var(&keys, "key", keyUsage)
	srcEndpoint := fs.String("source-endpoint-url", "", "endpoint for the source stream only")
	dstEndpoint := fs.String("dest-endpoint-url", "", "endpoint for the destination stream only")
	histogram := fs.Bool("histogram", false, "also draw records per destination shard on stderr")
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError(err)
	}
	if *source == "" || *dest == "" {
		return usageError(errors.New("source and dest: required"))
	}
	rules, err := keys.keyRules()
	if err != nil {
		return usageError(err)
	}
	src, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *srcEndpoint})
	if err != nil {
		return err
	}
	dst, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *dstEndpoint})
	if err != nil {
		return err
	}
	c := newChecker(rules)
	if err := kinesisio.ReadAll(ctx, src, *source, c.addSource); err != nil {
		return err
	}
	if err := kinesisio.ReadAll(ctx, dst, *dest, c.addDest); err != nil {
		return err
	}
	rep := c.report()
	if *histogram {
		drawHistogram(io.err, rep.DestShardRecords)
	}
	if err := json.NewEncoder(io.out).Encode(rep); err != nil {
		return err
	}
	if !rep.OK {
		return &exitError{code: 1, err: errors.New("")}
	}
	return nil
}

// checker compares a destination with its source. It judges order by each
// record's identity (its payload hash) and the key it should have, not by
// what repartd's relay did, so it checks the relay rather than mirrors it.
type checker struct {
	router *repartition.Router
	d      repartition.Decision

	srcKey  []uint64 // per source record: its routing key
	srcPos  []int32  // per source record: its index among its key's records
	keyLen  map[uint64]int32
	byID    map[uint64][]int32 // payload hash -> source records
	seen    []bool
	lastPos map[uint64]int32 // per key: highest position delivered so far

	rep Report
}

// Report is verify's output line (documented in the README).
type Report struct {
	SourceRecords    int            `json:"source_records"`
	DestRecords      int            `json:"dest_records"`
	Missing          int            `json:"missing"`
	Duplicates       int            `json:"duplicates"`
	Unexpected       int            `json:"unexpected"`
	OrderViolations  int            `json:"order_violations"`
	Misrouted        int            `json:"misrouted"`
	Keys             int            `json:"keys"`
	ShardsUsed       int            `json:"shards_used"`
	DestShards       int            `json:"dest_shards"`
	DestShardRecords map[string]int `json:"dest_shard_records"`
	OK               bool           `json:"ok"`
}

func newChecker(rules *repartition.KeyRules) *checker {
	return &checker{
		router:  repartition.NewRouter(rules, repartition.Learned{}),
		keyLen:  map[uint64]int32{},
		byID:    map[uint64][]int32{},
		lastPos: map[uint64]int32{},
		rep:     Report{DestShardRecords: map[string]int{}},
	}
}

func (c *checker) addSource(sr kinesisio.ShardRecords) error {
	for _, r := range sr.Records {
		key := c.keyOf(r)
		i := int32(len(c.srcKey))
		c.srcKey = append(c.srcKey, key)
		c.srcPos = append(c.srcPos, c.keyLen[key])
		c.keyLen[key]++
		id := xxhash.Sum64(r.Data)
		c.byID[id] = append(c.byID[id], i)
	}
	c.seen = make([]bool, len(c.srcKey))
	return nil
}

// keyOf is the key the record must travel under: its routing key, or for
// invalid records the hash of its source partition key.
func (c *checker) keyOf(r types.Record) uint64 {
	c.router.Route(r.Data, &c.d)
	if c.d.Kind == repartition.KindInvalid {
		return repartition.Hash([]byte(aws.ToString(r.PartitionKey)))
	}
	return c.d.Key
}

func (c *checker) addDest(sr kinesisio.ShardRecords) error {
	id := aws.ToString(sr.Shard.ShardId)
	c.rep.DestShards++
	c.rep.DestShardRecords[id] += len(sr.Records)
	if len(sr.Records) > 0 {
		c.rep.ShardsUsed++
	}
	var pk []byte
	for _, r := range sr.Records {
		c.rep.DestRecords++
		cands := c.byID[xxhash.Sum64(r.Data)]
		i := int32(-1)
		for _, cand := range cands {
			if !c.seen[cand] {
				i = cand
				break
			}
		}
		switch {
		case len(cands) == 0:
			c.rep.Unexpected++
			continue
		case i < 0:
			c.rep.Duplicates++
			continue
		}
		c.seen[i] = true
		key := c.srcKey[i]
		pk = repartition.AppendPartitionKey(pk[:0], key)
		if string(pk) != aws.ToString(r.PartitionKey) {
			c.rep.Misrouted++
		}
		last, ok := c.lastPos[key]
		if ok && c.srcPos[i] < last {
			c.rep.OrderViolations++ // an earlier change of this key arrived first time after a later one
			continue
		}
		c.lastPos[key] = c.srcPos[i]
	}
	return nil
}

func (c *checker) report() Report {
	r := c.rep
	r.SourceRecords = len(c.srcKey)
	r.Keys = len(c.keyLen)
	for _, s := range c.seen {
		if !s {
			r.Missing++
		}
	}
	r.OK = r.Missing == 0 && r.Unexpected == 0 && r.OrderViolations == 0 && r.Misrouted == 0
	return r
}

// drawHistogram prints one bar per destination shard.
func drawHistogram(w io.Writer, counts map[string]int) {
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	fmt.Fprintln(w, "records per destination shard:")
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		n := counts[id]
		bar := 0
		if most > 0 {
			bar = n * 50 / most
		}
		fmt.Fprintf(w, "  %s %8d %s\n", id, n, strings.Repeat("█", bar))
	}
}
