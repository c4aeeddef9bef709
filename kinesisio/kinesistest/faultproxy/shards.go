package faultproxy

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"sync"
	"time"
)

// shardLoc names one shard of one stream.
type shardLoc struct {
	stream, shard string
}

// hashKey is a 128-bit hash key, big-endian, so byte order is numeric
// order.
type hashKey [16]byte

// entryHashKey is where a record lands: its ExplicitHashKey if set, else
// the MD5 of its partition key's UTF-8 bytes. ok is false for an explicit
// hash key that is not a decimal in 0..2^128-1 (the upstream rejects it).
func entryHashKey(e *entryFields) (hashKey, bool) {
	if e.ExplicitHashKey != nil {
		return parseHashKey(*e.ExplicitHashKey)
	}
	if e.PartitionKey == nil {
		return hashKey{}, false
	}
	return md5.Sum([]byte(*e.PartitionKey)), true
}

// parseHashKey reads a decimal hash key.
func parseHashKey(s string) (hashKey, bool) {
	var h hashKey
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 128 {
		return h, false
	}
	n.FillBytes(h[:])
	return h, true
}

// shardRange is an open shard's hash key range, both ends inclusive.
type shardRange struct {
	id     string
	lo, hi hashKey
}

// streamShards are the open shards of one stream as last listed.
type streamShards struct {
	mu      sync.Mutex // held while listing, so one stream lists once at a time
	fetched time.Time
	open    []shardRange // sorted by lo
}

// find returns the open shard holding h.
func (s *streamShards) find(h hashKey) (string, bool) {
	i := sort.Search(len(s.open), func(i int) bool { return bytes.Compare(s.open[i].hi[:], h[:]) >= 0 })
	if i < len(s.open) && bytes.Compare(s.open[i].lo[:], h[:]) <= 0 {
		return s.open[i].id, true
	}
	return "", false
}

// shardCache maps streams to their open shards, listed from the upstream.
type shardCache struct {
	mu      sync.Mutex
	streams map[string]*streamShards
}

func (c *shardCache) entry(stream string) *streamShards {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams == nil {
		c.streams = make(map[string]*streamShards)
	}
	s := c.streams[stream]
	if s == nil {
		s = &streamShards{}
		c.streams[stream] = s
	}
	return s
}

// shardFor maps a hash key to its open shard of stream, listing the
// stream's shards from the upstream when the last list is older than
// Options.ShardRefresh. ok is false when the stream cannot be listed or no
// open shard holds h: the caller then applies no per-shard rule.
func (p *Proxy) shardFor(ctx context.Context, stream string, h hashKey) (string, bool) {
	s := p.shards.entry(stream)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := p.now()
	if s.fetched.IsZero() || now.Sub(s.fetched) >= p.opts.ShardRefresh {
		open, err := p.listOpenShards(ctx, stream)
		switch {
		case err == nil:
			s.open, s.fetched = open, now
		case ctx.Err() != nil:
			// The caller left; try again next time.
		default:
			// Keep the old list; retry after the refresh interval, not on
			// every call.
			s.fetched = now
			p.log.Warn().Err(err).Str("stream", stream).Msg("list shards for limits")
		}
	}
	return s.find(h)
}

// listShardsPage is the part of a ListShards response the proxy reads.
type listShardsPage struct {
	Shards []struct {
		ShardId      string
		HashKeyRange struct {
			StartingHashKey string
			EndingHashKey   string
		}
		SequenceNumberRange struct {
			EndingSequenceNumber *string
		}
	}
	NextToken *string
}

// listOpenShards asks the upstream for stream's open shards, following
// NextToken pages. The request carries a syntactically complete but
// meaningless SigV4 header: emulators require one and check nothing.
func (p *Proxy) listOpenShards(ctx context.Context, stream string) ([]shardRange, error) {
	var open []shardRange
	req := map[string]string{"StreamName": stream}
	for range 100 { // a stream of 100,000 shards is far beyond any test
		b, _ := json.Marshal(req)
		page, err := p.callUpstream(ctx, OpListShards, b)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", stream, err)
		}
		var ls listShardsPage
		if err := json.Unmarshal(page, &ls); err != nil {
			return nil, fmt.Errorf("list shards of %s: decode: %w", stream, err)
		}
		for _, sh := range ls.Shards {
			if sh.SequenceNumberRange.EndingSequenceNumber != nil {
				continue // closed: takes no writes
			}
			lo, ok1 := parseHashKey(sh.HashKeyRange.StartingHashKey)
			hi, ok2 := parseHashKey(sh.HashKeyRange.EndingHashKey)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("list shards of %s: shard %s: bad hash key range", stream, sh.ShardId)
			}
			open = append(open, shardRange{id: sh.ShardId, lo: lo, hi: hi})
		}
		if ls.NextToken == nil || *ls.NextToken == "" {
			sort.Slice(open, func(i, j int) bool { return bytes.Compare(open[i].lo[:], open[j].lo[:]) < 0 })
			return open, nil
		}
		req = map[string]string{"NextToken": *ls.NextToken}
	}
	return nil, fmt.Errorf("list shards of %s: too many pages", stream)
}

// callUpstream makes the proxy's own Kinesis call and returns the 200 body.
func (p *Proxy) callUpstream(ctx context.Context, op string, reqBody []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.upstream.String(), bytes.NewReader(reqBody))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	req.Header.Set("Content-Type", contentTypeJSON)
	req.Header.Set("X-Amz-Target", targetKinesis+op)
	req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=faultproxy/"+now.Format("20060102")+
		"/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var ae apiError
		_ = json.Unmarshal(b, &ae)
		return nil, fmt.Errorf("%s: HTTP %d %s", op, resp.StatusCode, ae.Type)
	}
	return b, nil
}

// maxIterators bounds one generation of the iterator table.
const maxIterators = 1 << 15

// iterTable remembers which shard each iterator handed to a client reads,
// in two generations: when the current one fills it becomes the previous
// and the oldest is dropped, bounding memory. A forgotten iterator only
// loses its per-shard rules.
type iterTable struct {
	mu        sync.Mutex
	cur, prev map[string]shardLoc
}

func (t *iterTable) put(it string, loc shardLoc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		t.cur = make(map[string]shardLoc)
	}
	if len(t.cur) >= maxIterators {
		t.prev, t.cur = t.cur, make(map[string]shardLoc)
	}
	t.cur[it] = loc
}

func (t *iterTable) get(it string) (shardLoc, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if loc, ok := t.cur[it]; ok {
		return loc, true
	}
	loc, ok := t.prev[it]
	return loc, ok
}
