package faultproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// maxEntries is PutRecords' limit; a call outside 1..maxEntries goes
// upstream unfaulted, to be rejected there.
const maxEntries = 500

// entryResult is a failed PutRecords result entry.
type entryResult struct {
	ErrorCode    string
	ErrorMessage string
}

// putRecords fails a fraction of entries (PutFailRate) and those over their
// shard's limit, forwards only the others, in order, and puts the
// upstream's answers back at their original positions.
func (c *call) putRecords() {
	n := len(c.fields.Records)
	if c.stream == "" || n == 0 || n > maxEntries {
		c.plain()
		return
	}
	entries := make([]entryFields, n)
	for i, raw := range c.fields.Records {
		if json.Unmarshal(raw, &entries[i]) != nil {
			c.plain()
			return
		}
	}
	c.setup()

	// Draw everything before any waiting, so the sequence never depends
	// on timing.
	fault := c.drawWhole()
	codes := make([]string, n) // injected ErrorCode per entry, "" = none
	if c.f.PutFailRate > 0 {
		c.d.mu.Lock()
		for i := range codes {
			if c.d.r.Float64() < c.f.PutFailRate {
				code := c.f.PutFailCode
				if code == "" {
					code = [2]string{CodeThroughput, CodeInternal}[c.d.r.IntN(2)]
				}
				codes[i] = code
			}
		}
		c.d.mu.Unlock()
	}
	if c.applyWhole(fault) {
		return
	}

	results := make([]json.RawMessage, n) // non-nil: failed here
	failed, limited := 0, 0
	byCode := map[string]int64{}
	now := c.p.now()
	for i := range entries {
		e := &entries[i]
		var shard string
		var known bool
		if c.f.Limits || codes[i] == CodeThroughput { // the message names the shard
			if h, ok := entryHashKey(e); ok {
				shard, known = c.p.shardFor(c.ctx, c.stream, h)
			}
		}
		switch {
		case codes[i] != "":
			results[i] = c.entryError(codes[i], shard)
			byCode[codes[i]]++
		case c.f.Limits && known && !c.p.limits.takeWrite(shardLoc{c.stream, shard}, now, e.size()):
			results[i] = c.entryError(CodeThroughput, shard)
			limited++
		default:
			continue
		}
		failed++
	}
	c.count(func(s *OpStats) {
		s.Entries += int64(n)
		s.EntriesLimited += int64(limited)
		for code, k := range byCode {
			if s.EntriesFailed == nil {
				s.EntriesFailed = map[string]int64{}
			}
			s.EntriesFailed[code] += k
		}
	})

	if failed == n { // nothing to write: answer as AWS would
		c.finish(c.synth(http.StatusOK, map[string]any{
			"FailedRecordCount": n,
			"Records":           results,
		}), fault)
		return
	}
	if failed > 0 {
		keep := make([]json.RawMessage, 0, n-failed)
		for i, raw := range c.fields.Records {
			if results[i] == nil {
				keep = append(keep, raw)
			}
		}
		v, _ := json.Marshal(keep)
		if err := c.body.set("Records", v); err != nil {
			c.plain() // cannot happen: the body decoded above
			return
		}
	}
	resp, ok := c.forward(false)
	if !ok {
		return
	}
	if failed > 0 && resp.status == http.StatusOK {
		merged, err := mergePutRecords(resp.body, results)
		if err != nil {
			c.p.upstreamFailed(c.ctx, c.w, c.op, err)
			return
		}
		resp.body = merged
	}
	c.finish(resp, fault)
}

// entryError is the result entry of a record failed with code.
func (c *call) entryError(code, shard string) json.RawMessage {
	msg := msgInternal
	if code == CodeThroughput {
		msg = c.rateMsg(shard)
	}
	b, _ := json.Marshal(entryResult{ErrorCode: code, ErrorMessage: msg})
	return b
}

// mergePutRecords puts the upstream's results for the forwarded entries
// into the nil slots of results, in order, and fixes FailedRecordCount.
// Other members of the response (EncryptionType) are kept.
func mergePutRecords(upBody []byte, results []json.RawMessage) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(upBody, &m); err != nil {
		return nil, fmt.Errorf("merge PutRecords response: %w", err)
	}
	var up []json.RawMessage
	if err := json.Unmarshal(m["Records"], &up); err != nil {
		return nil, fmt.Errorf("merge PutRecords response: records: %w", err)
	}
	var upFailed int
	if raw, ok := m["FailedRecordCount"]; ok {
		if err := json.Unmarshal(raw, &upFailed); err != nil {
			return nil, fmt.Errorf("merge PutRecords response: failed count: %w", err)
		}
	}
	out := make([]json.RawMessage, len(results))
	j, injected := 0, 0
	for i, r := range results {
		if r != nil {
			out[i] = r
			injected++
			continue
		}
		if j >= len(up) {
			return nil, fmt.Errorf("merge PutRecords response: %d results for more entries", len(up))
		}
		out[i] = up[j]
		j++
	}
	if j != len(up) {
		return nil, fmt.Errorf("merge PutRecords response: %d results for %d entries", len(up), j)
	}
	m["Records"], _ = json.Marshal(out)
	m["FailedRecordCount"], _ = json.Marshal(upFailed + injected)
	return json.Marshal(m)
}

// putRecord throttles the whole call of a record over its shard's limit.
func (c *call) putRecord() {
	c.setup()
	fault := c.drawWhole()
	if c.applyWhole(fault) {
		return
	}
	if c.f.Limits && c.stream != "" {
		if h, ok := entryHashKey(&c.fields.entryFields); ok {
			if shard, ok := c.p.shardFor(c.ctx, c.stream, h); ok &&
				!c.p.limits.takeWrite(shardLoc{c.stream, shard}, c.p.now(), c.fields.size()) {
				c.count(func(s *OpStats) { s.LimitedCalls++ })
				c.replyError(http.StatusBadRequest, typeThroughput, c.rateMsg(shard))
				return
			}
		}
	}
	if resp, ok := c.forward(false); ok {
		c.finish(resp, fault)
	}
}
