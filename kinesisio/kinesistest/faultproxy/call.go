package faultproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// call is one Kinesis JSON request on its way through the faults.
type call struct {
	p      *Proxy
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context // ends when the client leaves or the proxy closes
	op     string
	body   body
	fields reqFields

	stream  string // "" when unknown
	account string
	f       Faults
	d       *dice
}

// upResp is a response held whole before it is sent.
type upResp struct {
	status int
	header http.Header
	body   []byte
}

// serve dispatches by operation. A body that is not a JSON object goes
// upstream unchanged so the upstream answers it, as AWS would.
func (c *call) serve() {
	if err := json.Unmarshal(c.body.raw, &c.fields); err != nil {
		c.plain()
		return
	}
	c.fixStreamName()
	c.account = defaultAccount
	if c.fields.StreamARN != nil {
		if acct, _, ok := parseStreamARN(*c.fields.StreamARN); ok {
			c.account = acct
		}
	}
	if c.fields.StreamName != nil {
		c.stream = *c.fields.StreamName
	}
	switch c.op {
	case OpPutRecords:
		c.putRecords()
	case OpPutRecord:
		c.putRecord()
	case OpGetRecords:
		c.getRecords()
	case OpGetShardIterator:
		c.getShardIterator()
	default:
		c.other()
	}
}

// fixStreamName adds StreamName to a request that names its stream only by
// StreamARN: kinesalite rejects those, AWS takes either. A ListShards
// continuation (NextToken) must carry neither, so it is left alone.
func (c *call) fixStreamName() {
	if !streamNameOps[c.op] || c.fields.StreamARN == nil || c.fields.StreamName != nil {
		return
	}
	if c.op == OpListShards && c.fields.NextToken != nil {
		return
	}
	_, name, ok := parseStreamARN(*c.fields.StreamARN)
	if !ok {
		return
	}
	v, _ := json.Marshal(name)
	if c.body.set("StreamName", v) != nil {
		return
	}
	c.fields.StreamName = &name
	c.count(func(s *OpStats) { s.StreamNamesAdded++ })
}

// setup picks the faults and the random source of c.stream.
func (c *call) setup() {
	c.f = c.p.faultsFor(c.stream)
	c.d = c.p.diceFor(c.stream, c.op)
}

// drawWhole draws the call's whole-call fault, or nothing when c.op is out
// of scope. Callers draw everything a call needs before any waiting, so
// the random sequence never depends on timing.
func (c *call) drawWhole() callFault {
	if !c.f.inScope(c.op) {
		return callNone
	}
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return c.f.pick(c.d.r.Float64())
}

// applyWhole applies Latency and a throttle, error or reset drawn for the
// call. done says the call is over (answered, reset, or the client left).
func (c *call) applyWhole(fault callFault) (done bool) {
	if c.f.Latency > 0 && c.f.inScope(c.op) {
		c.count(func(s *OpStats) { s.Delayed++ })
		if !c.sleep(c.f.Latency) {
			return true
		}
	}
	switch fault {
	case callThrottle:
		c.count(func(s *OpStats) { s.Throttled++ })
		c.debug("throttle")
		typ := typeLimitExceeded
		switch c.op {
		case OpPutRecords, OpPutRecord, OpGetRecords, OpGetShardIterator:
			typ = typeThroughput
		}
		c.replyError(http.StatusBadRequest, typ, c.rateMsg(""))
		return true
	case callError:
		c.count(func(s *OpStats) { s.Errors++ })
		c.debug("error")
		c.replyError(http.StatusInternalServerError, typeInternal, msgInternal)
		return true
	case callReset:
		c.count(func(s *OpStats) { s.Resets++ })
		c.debug("reset")
		c.reset()
		return true
	}
	return false
}

// finish sends resp, or for an ambiguous call loses it: a reset, or a
// response held for AmbiguousDelay (sent only if the client still waits).
func (c *call) finish(resp *upResp, fault callFault) {
	if fault == callAmbiguous {
		c.count(func(s *OpStats) { s.Ambiguous++ })
		c.debug("ambiguous")
		if c.f.AmbiguousDelay <= 0 {
			c.reset()
			return
		}
		if !c.sleep(c.f.AmbiguousDelay) {
			return
		}
	}
	c.reply(resp)
}

// other handles every operation without rules of its own.
func (c *call) other() {
	c.setup()
	fault := c.drawWhole()
	if c.applyWhole(fault) {
		return
	}
	if resp, ok := c.forward(true); ok {
		c.finish(resp, fault)
	}
}

// plain forwards the request unfaulted and sends the answer back.
func (c *call) plain() {
	if resp, ok := c.forward(true); ok {
		c.reply(resp)
	}
}

// forward sends the (possibly rewritten) body upstream with the client's
// headers and reads the answer whole. keepEncoding false drops
// Accept-Encoding, so a body the proxy must read arrives uncompressed.
// ok is false when there is nothing to send back (already answered 502,
// or the client left).
func (c *call) forward(keepEncoding bool) (*upResp, bool) {
	b := c.body.bytes()
	out, err := http.NewRequestWithContext(c.ctx, http.MethodPost, upstreamURL(c.p.upstream, c.r.URL), bytes.NewReader(b))
	if err != nil {
		c.p.upstreamFailed(c.ctx, c.w, c.op, err)
		return nil, false
	}
	copyHeaders(out.Header, c.r.Header)
	out.Header.Del("Content-Length")
	out.Header.Del("Expect") // the body is already here
	out.ContentLength = int64(len(b))
	if !keepEncoding {
		out.Header.Del("Accept-Encoding")
	}
	resp, err := c.p.client.Do(out)
	if err != nil {
		c.p.upstreamFailed(c.ctx, c.w, c.op, err)
		return nil, false
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		c.p.upstreamFailed(c.ctx, c.w, c.op, err)
		return nil, false
	}
	c.count(func(s *OpStats) { s.Forwarded++ })
	return &upResp{status: resp.StatusCode, header: resp.Header, body: rb}, true
}

// reply sends resp, with Content-Length fixed for a rewritten body.
func (c *call) reply(resp *upResp) {
	h := c.w.Header()
	copyHeaders(h, resp.header)
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	c.w.WriteHeader(resp.status)
	_, _ = c.w.Write(resp.body)
}

// synth is a response the proxy makes up, shaped like the upstream's.
func (c *call) synth(status int, v any) *upResp {
	b, _ := json.Marshal(v)
	h := http.Header{}
	h.Set("Content-Type", contentTypeJSON)
	h.Set("x-amzn-RequestId", c.p.requestID())
	return &upResp{status: status, header: h, body: b}
}

// replyError answers with an awsJson1.1 error.
func (c *call) replyError(status int, typ, msg string) {
	c.reply(c.synth(status, apiError{Type: typ, Message: msg}))
}

// reset drops the connection with a TCP RST and no response.
func (c *call) reset() { abort(c.w) }

// abort drops the connection under w with a TCP RST and no response.
// Without a hijackable connection (HTTP/2, a recorder) it aborts the
// handler, which net/http turns into a closed connection or a stream
// reset. A handler that returned without writing would instead send an
// empty 200, which the SDK takes for success.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, not FIN: "connection reset by peer"
	}
	_ = conn.Close()
}

// sleep waits d. If the client leaves or the proxy closes first, it drops
// the connection and returns false: the call is over, unanswered.
func (c *call) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		c.reset()
		return false
	}
}

func (c *call) count(f func(*OpStats)) { c.p.stats.add(c.op, f) }

func (c *call) debug(fault string) {
	c.p.log.Debug().Str("op", c.op).Str("stream", c.stream).Str("fault", fault).Msg("injected")
}

// rateMsg is AWS's throttling message, naming the shard when known.
func (c *call) rateMsg(shard string) string {
	if shard != "" {
		return fmt.Sprintf("Rate exceeded for shard %s in stream %s under account %s.", shard, c.stream, c.account)
	}
	return fmt.Sprintf("Rate exceeded for stream %s under account %s.", c.stream, c.account)
}

// requestID makes an x-amzn-RequestId for a made-up response.
func (p *Proxy) requestID() string {
	n := p.reqSeq.Add(1)
	return fmt.Sprintf("%08x-fa17-4000-8000-%012x", uint32(p.seed), n)
}
