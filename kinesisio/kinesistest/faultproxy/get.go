package faultproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// getShardIterator forwards the call and remembers which shard the
// returned iterator reads, for GetRecords' per-shard rules.
func (c *call) getShardIterator() {
	c.setup()
	fault := c.drawWhole()
	if c.applyWhole(fault) {
		return
	}
	resp, ok := c.forward(false)
	if !ok {
		return
	}
	if resp.status == http.StatusOK && c.stream != "" && c.fields.ShardId != nil {
		var out struct{ ShardIterator *string }
		if json.Unmarshal(resp.body, &out) == nil && out.ShardIterator != nil {
			c.p.iters.put(*out.ShardIterator, shardLoc{c.stream, *c.fields.ShardId})
		}
	}
	c.finish(resp, fault)
}

// getRecordsOut is the part of a GetRecords response the proxy reads;
// Records only when the read limit needs the byte count.
type getRecordsOut struct {
	NextShardIterator *string
	Records           []struct{ Data string }
}

// getRecords applies the read limits of the iterator's shard, then expired
// iterators or empty reads, forwards, and remembers NextShardIterator's
// shard.
func (c *call) getRecords() {
	if c.fields.ShardIterator == nil {
		c.plain()
		return
	}
	it := *c.fields.ShardIterator
	loc, known := c.p.iters.get(it)
	if known {
		c.stream = loc.stream
	} else if c.fields.StreamARN != nil {
		if _, name, ok := parseStreamARN(*c.fields.StreamARN); ok {
			c.stream = name
		}
	}
	c.setup()

	fault := c.drawWhole()
	c.d.mu.Lock()
	u := c.d.r.Float64()
	c.d.mu.Unlock()
	if c.applyWhole(fault) {
		return
	}
	limits := c.f.Limits && known
	if limits && !c.p.limits.takeRead(loc, c.p.now()) {
		c.count(func(s *OpStats) { s.LimitedCalls++ })
		c.replyError(http.StatusBadRequest, typeThroughput, c.rateMsg(loc.shard))
		return
	}
	switch {
	case u < c.f.ExpireIteratorRate:
		c.count(func(s *OpStats) { s.ExpiredIterators++ })
		c.debug("expired iterator")
		c.replyError(http.StatusBadRequest, typeExpiredIterator, fmt.Sprintf(
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of 300000 milliseconds.",
			awsTime(c.p.now().Add(-fiveMinutes)), awsTime(c.p.now())))
		return
	case u < c.f.ExpireIteratorRate+c.f.EmptyReadRate:
		c.count(func(s *OpStats) { s.EmptyReads++ })
		c.debug("empty read")
		c.reply(c.synth(http.StatusOK, map[string]any{
			"Records":            []any{},
			"NextShardIterator":  it,
			"MillisBehindLatest": 0,
		}))
		return
	}
	resp, ok := c.forward(false)
	if !ok {
		return
	}
	if resp.status == http.StatusOK && known {
		var out getRecordsOut
		var err error
		if limits {
			err = json.Unmarshal(resp.body, &out)
		} else { // skip the records: only the iterator is needed
			err = json.Unmarshal(resp.body, &struct{ NextShardIterator **string }{&out.NextShardIterator})
		}
		if err == nil {
			if out.NextShardIterator != nil {
				c.p.iters.put(*out.NextShardIterator, loc)
			}
			if limits {
				n := 0
				for _, r := range out.Records {
					n += base64Len(r.Data)
				}
				c.p.limits.chargeRead(loc, c.p.now(), n)
			}
		}
	}
	c.finish(resp, fault)
}
