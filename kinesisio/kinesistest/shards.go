package kinesistest

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// hashKey is a point of the 128-bit hash key space.
type hashKey struct{ hi, lo uint64 }

var maxHashKey = hashKey{^uint64(0), ^uint64(0)}

func (a hashKey) cmp(b hashKey) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

// next is a+1; the caller makes sure a is not maxHashKey.
func (a hashKey) next() hashKey {
	if a.lo == ^uint64(0) {
		return hashKey{a.hi + 1, 0}
	}
	return hashKey{a.hi, a.lo + 1}
}

// prev is a-1; the caller makes sure a is not zero.
func (a hashKey) prev() hashKey {
	if a.lo == 0 {
		return hashKey{a.hi - 1, ^uint64(0)}
	}
	return hashKey{a.hi, a.lo - 1}
}

func (a hashKey) big() *big.Int {
	b := new(big.Int).SetUint64(a.hi)
	return b.Lsh(b, 64).Or(b, new(big.Int).SetUint64(a.lo))
}

func (a hashKey) String() string { return a.big().String() }

func hashKeyFromBig(b *big.Int) hashKey {
	var buf [16]byte
	b.FillBytes(buf[:])
	return hashKey{binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])}
}

// parseHashKey reads a decimal hash key, as AWS accepts it in
// ExplicitHashKey and NewStartingHashKey: AWS's pattern 0|[1-9]\d{0,38},
// at most 2^128-1. It runs per entry, so it does 128-bit arithmetic by hand
// rather than through regexp and math/big.
func parseHashKey(s string) (hashKey, bool) {
	if len(s) == 0 || len(s) > 39 || (s[0] == '0' && len(s) > 1) {
		return hashKey{}, false
	}
	var hi, lo uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return hashKey{}, false
		}
		// (hi:lo) = (hi:lo)*10 + digit, failing on overflow past 128 bits.
		h1, l1 := bits.Mul64(lo, 10)
		h2, h0 := bits.Mul64(hi, 10)
		if h2 != 0 {
			return hashKey{}, false
		}
		var carry uint64
		h0, carry = bits.Add64(h0, h1, 0)
		if carry != 0 {
			return hashKey{}, false
		}
		l1, carry = bits.Add64(l1, uint64(c-'0'), 0)
		h0, carry = bits.Add64(h0, 0, carry)
		if carry != 0 {
			return hashKey{}, false
		}
		hi, lo = h0, l1
	}
	return hashKey{hi, lo}, true
}

// md5Key maps a partition key to the hash key space as Kinesis does: the
// MD5 of its UTF-8 bytes read as a big-endian unsigned integer.
func md5Key(partitionKey string) hashKey {
	sum := md5.Sum([]byte(partitionKey))
	return hashKey{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

// HashKey returns the decimal hash key Kinesis derives from partitionKey
// (MD5, big-endian), for tests that compute where a key lands.
func HashKey(partitionKey string) string { return md5Key(partitionKey).String() }

// shard is one shard of a stream. Invariants: records are in increasing
// sequence order; a closed shard (endSeq != 0) takes no writes and every
// record's sequence number lies between startSeq and endSeq.
type shard struct {
	id               string
	idx              int      // index in stream.shards
	parent, adjacent string   // lineage, "" when none
	children         []*shard // set when the shard closes
	lo, hi           hashKey  // HashKeyRange, inclusive
	startSeq, endSeq uint64   // endSeq is 0 while open
	opened, closed   time.Time
	// records are those not yet dropped by Trim or DiscardRecords;
	// trimmed counts the dropped ones. Positions (iterators) are absolute:
	// position p is records[p-trimmed].
	records []record
	trimmed int
	// consumed is the furthest position a GetRecords answer reached.
	consumed int
	spare    []record // DiscardRecords's second buffer, reused
	limits   limits   // token buckets, used when Faults.Limits is set
	// rateMsg is the ErrorMessage of an entry over the shard's limit,
	// built once: failed entries cost no formatting.
	rateMsg string
}

// end is the position after the shard's last record.
func (s *shard) end() int { return s.trimmed + len(s.records) }

func (s *shard) open() bool { return s.endSeq == 0 }

func (s *shard) contains(k hashKey) bool { return s.lo.cmp(k) <= 0 && k.cmp(s.hi) <= 0 }

// toAPI renders s as ListShards describes it.
func (s *shard) toAPI() types.Shard {
	out := types.Shard{
		ShardId: ptr(s.id),
		HashKeyRange: &types.HashKeyRange{
			StartingHashKey: ptr(s.lo.String()),
			EndingHashKey:   ptr(s.hi.String()),
		},
		SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: ptr(formatSeq(s.startSeq))},
	}
	if s.parent != "" {
		out.ParentShardId = ptr(s.parent)
	}
	if s.adjacent != "" {
		out.AdjacentParentShardId = ptr(s.adjacent)
	}
	if !s.open() {
		out.SequenceNumberRange.EndingSequenceNumber = ptr(formatSeq(s.endSeq))
	}
	return out
}

// childShards renders the children of the closed shard s as GetRecords
// reports them at its end.
func (s *shard) childShards() []types.ChildShard {
	out := make([]types.ChildShard, 0, len(s.children))
	for _, c := range s.children {
		parents := []string{c.parent}
		if c.adjacent != "" {
			parents = append(parents, c.adjacent)
		}
		out = append(out, types.ChildShard{
			ShardId:      ptr(c.id),
			ParentShards: parents,
			HashKeyRange: &types.HashKeyRange{
				StartingHashKey: ptr(c.lo.String()),
				EndingHashKey:   ptr(c.hi.String()),
			},
		})
	}
	return out
}

// addShard opens a new shard covering [lo, hi] with the next shard id.
func (st *stream) addShard(lo, hi hashKey, parent, adjacent string, now time.Time) *shard {
	s := &shard{
		id:       fmt.Sprintf("shardId-%012d", len(st.shards)),
		parent:   parent,
		adjacent: adjacent,
		lo:       lo,
		hi:       hi,
		startSeq: st.nextSeq(),
		opened:   now,
	}
	s.rateMsg = "Rate exceeded for shard " + s.id + " in stream " + st.name + " under account " + account + "."
	st.shards = append(st.shards, s)
	st.openSorted = nil
	return s
}

// close ends s: no more writes, and EndingSequenceNumber is above every
// record it holds.
func (st *stream) close(s *shard, now time.Time) {
	s.endSeq = st.nextSeq()
	s.closed = now
	st.openSorted = nil
}

// evenRanges splits the hash key space into n ranges as CreateStream does:
// range i is [i*2^128/n, (i+1)*2^128/n - 1].
func evenRanges(n int) [][2]hashKey {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	bound := func(i int) *big.Int {
		b := new(big.Int).Mul(space, big.NewInt(int64(i)))
		return b.Div(b, big.NewInt(int64(n)))
	}
	out := make([][2]hashKey, n)
	for i := range n {
		end := bound(i + 1)
		end.Sub(end, big.NewInt(1))
		out[i] = [2]hashKey{hashKeyFromBig(bound(i)), hashKeyFromBig(end)}
	}
	return out
}

func (st *stream) shard(id string) *shard {
	n, ok := shardIndex(id)
	if !ok || n >= len(st.shards) {
		return nil
	}
	return st.shards[n]
}

func shardIndex(id string) (int, bool) {
	num, ok := strings.CutPrefix(id, "shardId-")
	if !ok || len(num) != 12 {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && n >= 0
}

// openShardFor returns the open shard whose range holds k. Open shards
// always tile the whole key space, so there is exactly one: a binary
// search over the open shards by range start, rebuilt after a reshard.
func (st *stream) openShardFor(k hashKey) *shard {
	if st.openSorted == nil {
		for _, s := range st.shards {
			if s.open() {
				st.openSorted = append(st.openSorted, s)
			}
		}
		slices.SortFunc(st.openSorted, func(a, b *shard) int { return a.lo.cmp(b.lo) })
	}
	open := st.openSorted
	// The last open shard starting at or before k.
	i := sort.Search(len(open), func(i int) bool { return open[i].lo.cmp(k) > 0 }) - 1
	if i < 0 || !open[i].contains(k) {
		panic("kinesistest: open shards do not cover hash key " + k.String())
	}
	return open[i]
}

// SplitShard splits the open shard shardID of stream at newStartingHashKey,
// as the SplitShard API does: the parent closes, and two children open with
// the next shard ids, the first over [parent start, newStartingHashKey-1],
// the second over [newStartingHashKey, parent end], both with ParentShardId
// set. newStartingHashKey must lie in (parent start, parent end].
func (f *Fake) SplitShard(stream, shardID, newStartingHashKey string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, s, err := f.openShard(stream, shardID)
	if err != nil {
		return fmt.Errorf("split %s: %w", shardID, err)
	}
	k, ok := parseHashKey(newStartingHashKey)
	if !ok || k.cmp(s.lo) <= 0 || k.cmp(s.hi) > 0 {
		return fmt.Errorf("split %s: new starting hash key %q outside (%s, %s]",
			shardID, newStartingHashKey, s.lo, s.hi)
	}
	now := f.now()
	st.close(s, now)
	s.children = []*shard{
		st.addShard(s.lo, k.prev(), s.id, "", now),
		st.addShard(k, s.hi, s.id, "", now),
	}
	return nil
}

// MergeShards merges the open, adjacent shards shardID and adjacentShardID
// of stream, as the MergeShards API does: both close, and one child opens
// with the next shard id over their joint range, with ParentShardId =
// shardID and AdjacentParentShardId = adjacentShardID.
func (f *Fake) MergeShards(stream, shardID, adjacentShardID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, a, err := f.openShard(stream, shardID)
	if err != nil {
		return fmt.Errorf("merge %s: %w", shardID, err)
	}
	_, b, err := f.openShard(stream, adjacentShardID)
	if err != nil {
		return fmt.Errorf("merge %s: %w", adjacentShardID, err)
	}
	lo, hi := a, b
	if b.lo.cmp(a.lo) < 0 {
		lo, hi = b, a
	}
	if lo.hi == maxHashKey || lo.hi.next() != hi.lo {
		return fmt.Errorf("merge %s and %s: not adjacent", shardID, adjacentShardID)
	}
	now := f.now()
	st.close(a, now)
	st.close(b, now)
	child := st.addShard(lo.lo, hi.hi, a.id, b.id, now)
	a.children = []*shard{child}
	b.children = []*shard{child}
	return nil
}

func (f *Fake) openShard(stream, shardID string) (*stream, *shard, error) {
	st := f.streams[stream]
	if st == nil {
		return nil, nil, fmt.Errorf("stream %q not found", stream)
	}
	s := st.shard(shardID)
	switch {
	case s == nil:
		return nil, nil, fmt.Errorf("shard %q not found in stream %s", shardID, stream)
	case !s.open():
		return nil, nil, fmt.Errorf("shard %s of stream %s is closed", shardID, stream)
	}
	return st, s, nil
}

const (
	listShardsPage    = 1000              // most shards per ListShards reply
	nextTokenLifetime = 300 * time.Second // ListShards NextToken life
)

// listCursor is what a ListShards NextToken carries: the stream, the last
// shard returned, the filter, and when it was issued.
type listCursor struct {
	stream string
	after  string // shard id; shards sort by id
	filter types.ShardFilter
	issued time.Time
}

// ListShards lists open and closed shards in shard id order with lineage,
// hash and sequence ranges. It honours StreamName or StreamARN,
// ExclusiveStartShardId, MaxResults (default and cap 1000), NextToken (sent
// without StreamName, ExclusiveStartShardId or ShardFilter; expires after
// 300 s: ExpiredNextTokenException) and ShardFilter (AT_LATEST: open shards;
// AT_TRIM_HORIZON, FROM_TRIM_HORIZON: all, since nothing expires here;
// AFTER_SHARD_ID; AT_TIMESTAMP and FROM_TIMESTAMP on the fake clock).
func (f *Fake) ListShards(ctx context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	const op = "ListShards"
	if err := ctx.Err(); err != nil {
		return nil, canceled(op, err)
	}
	if in == nil {
		in = &kinesis.ListShardsInput{}
	}
	if in.ShardFilter != nil && in.ShardFilter.Type == "" {
		return nil, missingParams(op, "ShardFilter.Type")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()

	limit := listShardsPage
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10000 {
			return nil, validation(op, "Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000", *in.MaxResults)
		}
		limit = min(int(*in.MaxResults), listShardsPage)
	}

	var cur listCursor
	if in.NextToken != nil {
		if in.StreamName != nil || in.StreamARN != nil || in.ExclusiveStartShardId != nil || in.ShardFilter != nil {
			return nil, invalidArg(op, "NextToken cannot be combined with StreamName, StreamARN, ExclusiveStartShardId or ShardFilter")
		}
		c, ok := f.decodeCursor(*in.NextToken)
		if !ok {
			return nil, invalidArg(op, "Invalid NextToken.")
		}
		if now.Sub(c.issued) > nextTokenLifetime {
			return nil, expiredNextToken(op, "The timestamp of the NextToken has expired.")
		}
		cur = c
	} else {
		name, err := streamName(op, in.StreamName, in.StreamARN)
		if err != nil {
			return nil, err
		}
		cur.stream = name
		if in.ExclusiveStartShardId != nil {
			cur.after = *in.ExclusiveStartShardId
		}
		if in.ShardFilter != nil {
			cur.filter = *in.ShardFilter
			if err := checkFilter(op, cur.filter); err != nil {
				return nil, err
			}
		}
	}
	st := f.streams[cur.stream]
	if st == nil {
		return nil, notFound(op, "Stream %s under account %s not found.", cur.stream, account)
	}

	out := &kinesis.ListShardsOutput{Shards: []types.Shard{}}
	for _, s := range st.shards {
		if s.id <= cur.after || !admits(cur.filter, s) {
			continue
		}
		if len(out.Shards) == limit {
			cur.issued = now
			out.NextToken = ptr(f.encodeCursor(cur))
			break
		}
		out.Shards = append(out.Shards, s.toAPI())
		cur.after = s.id
	}
	return out, nil
}

func checkFilter(op string, sf types.ShardFilter) error {
	switch sf.Type {
	case types.ShardFilterTypeAtLatest, types.ShardFilterTypeAtTrimHorizon, types.ShardFilterTypeFromTrimHorizon:
	case types.ShardFilterTypeAfterShardId:
		if sf.ShardId == nil {
			return invalidArg(op, "ShardFilter of type AFTER_SHARD_ID needs ShardId.")
		}
	case types.ShardFilterTypeAtTimestamp, types.ShardFilterTypeFromTimestamp:
		if sf.Timestamp == nil {
			return invalidArg(op, "ShardFilter of type %s needs Timestamp.", sf.Type)
		}
	default:
		return validation(op, "Value '%s' at 'shardFilter.type' failed to satisfy enum value set.", sf.Type)
	}
	return nil
}

// admits says whether filter sf lists s. The zero filter admits all, as
// FROM_TRIM_HORIZON does.
func admits(sf types.ShardFilter, s *shard) bool {
	switch sf.Type {
	case types.ShardFilterTypeAtLatest:
		return s.open()
	case types.ShardFilterTypeAfterShardId:
		return s.id > *sf.ShardId
	case types.ShardFilterTypeAtTimestamp:
		// Open at the time: opened by then and not closed before it.
		return !s.opened.After(*sf.Timestamp) && (s.open() || !s.closed.Before(*sf.Timestamp))
	case types.ShardFilterTypeFromTimestamp:
		// Open at or after the time.
		return s.open() || !s.closed.Before(*sf.Timestamp)
	}
	return true
}

// encodeCursor makes an opaque NextToken. It names this fake, so a token
// from another Fake is rejected.
func (f *Fake) encodeCursor(c listCursor) string {
	ts := int64(0)
	if c.filter.Timestamp != nil {
		ts = c.filter.Timestamp.UnixNano()
	}
	sid := ""
	if c.filter.ShardId != nil {
		sid = *c.filter.ShardId
	}
	raw := strings.Join([]string{
		"list", strconv.FormatUint(f.id, 10), c.stream, c.after, string(c.filter.Type), sid,
		strconv.FormatInt(ts, 10), strconv.FormatInt(c.issued.UnixNano(), 10),
	}, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func (f *Fake) decodeCursor(tok string) (listCursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return listCursor{}, false
	}
	p := strings.Split(string(raw), "|")
	if len(p) != 8 || p[0] != "list" || p[1] != strconv.FormatUint(f.id, 10) {
		return listCursor{}, false
	}
	ts, err1 := strconv.ParseInt(p[6], 10, 64)
	issued, err2 := strconv.ParseInt(p[7], 10, 64)
	if err1 != nil || err2 != nil {
		return listCursor{}, false
	}
	c := listCursor{stream: p[2], after: p[3], issued: time.Unix(0, issued)}
	c.filter.Type = types.ShardFilterType(p[4])
	if p[5] != "" {
		c.filter.ShardId = ptr(p[5])
	}
	if c.filter.Type == types.ShardFilterTypeAtTimestamp || c.filter.Type == types.ShardFilterTypeFromTimestamp {
		t := time.Unix(0, ts)
		c.filter.Timestamp = &t
	}
	return c, true
}
