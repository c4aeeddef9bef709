package kinesisio

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The fast codec replaces the SDK's JSON (de)serialization for the two hot
// calls, GetRecords responses and PutRecords requests and responses; the
// SDK still resolves the endpoint, signs, sends, closes the body, maps
// errors and fills the result metadata.
//
// Invariants:
//   - Identical results. Whatever the fast codec produces, the SDK's own
//     codec would have produced too: the same PutRecords body byte for byte,
//     the same output structs. The decoders accept a strict subset of what
//     the SDK accepts; anything else (a syntax error, a duplicate or escaped
//     key, a null list element, ChildShards, a timestamp sent as a string,
//     bad base64) is handed to the SDK's decoder with the same bytes, so
//     accept/reject and every error stay the SDK's.
//   - Error statuses (non-2xx) never reach the fast decoders.
//   - A decoded response references none of the (pooled) body bytes: data
//     are decoded into a fresh arena, strings copied into a fresh string.
//
// The seam is the client's smithyhttp.ClientProtocol, which the SDK's own
// OperationSerializer and OperationDeserializer middleware call (this SDK
// generation has no per-operation serializers): wrapping it swaps exactly
// the (de)serialization and keeps those middlewares' tracing, timing and
// body closing.

// awsJSON11 is the protocol the wrapped SDK protocol must be: the fast codec
// hard-codes its headers.
var awsJSON11 = smithy.ShapeID{Namespace: "aws.protocols", Name: "awsJson1_1"}

// withFastCodec wraps the client's protocol in the fast codec; any other
// protocol than the Kinesis awsJson 1.1 one it knows stays as it is.
func withFastCodec(k *kinesis.Options) {
	if k.Protocol == nil || k.Protocol.ID() != awsJSON11 {
		return
	}
	if _, done := k.Protocol.(fastCodec); done {
		return
	}
	k.Protocol = fastCodec{k.Protocol}
}

// fastCodec is the SDK's protocol with GetRecords and PutRecords
// (de)serialized by hand; every other operation, and every error response,
// goes to the embedded SDK protocol.
type fastCodec struct {
	smithyhttp.ClientProtocol
}

// SerializeRequest sets what the SDK's awsJson 1.1 serializer sets: method,
// path, X-Amz-Target, Content-Type, and the body as a seekable stream.
func (c fastCodec) SerializeRequest(ctx context.Context, schema *smithy.OperationSchema, in smithy.Serializable, req *smithyhttp.Request) error {
	put, ok := in.(*kinesis.PutRecordsInput)
	if !ok {
		return c.ClientProtocol.SerializeRequest(ctx, schema, in, req)
	}
	req.Method = http.MethodPost
	if len(req.URL.Path) == 0 {
		req.URL.Path = "/"
	}
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	// Not pooled: the transport may still hold the body after the call
	// returns (a reply that beats the upload), so nothing proves when it
	// is free.
	sreq, err := req.SetStream(bytes.NewReader(appendPutRecords(nil, put)))
	if err != nil {
		return fmt.Errorf("set stream: %w", err)
	}
	*req = *sreq
	return nil
}

// DeserializeResponse decodes 2xx GetRecords and PutRecords replies itself,
// handing anything it does not accept to the SDK, with the same bytes.
func (c fastCodec) DeserializeResponse(ctx context.Context, schema *smithy.OperationSchema, reg *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return c.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
	}
	var decode func([]byte, *decodeScratch) bool
	var pool *sync.Pool
	switch o := out.(type) {
	case *kinesis.GetRecordsOutput:
		decode = func(b []byte, s *decodeScratch) bool { return decodeGetRecords(b, o, s) }
		pool = &getScratch
	case *kinesis.PutRecordsOutput:
		decode = func(b []byte, s *decodeScratch) bool { return decodePutRecordsOutput(b, o, s) }
		pool = &putScratch
	default:
		return c.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
	}
	s := pool.Get().(*decodeScratch)
	defer s.release(pool)
	var err error
	if s.body, err = readBody(s.body[:0], resp.Body, resp.ContentLength); err != nil {
		return &smithy.DeserializationError{Err: err} // as the SDK wraps it
	}
	if len(s.body) == 0 || decode(s.body, s) {
		return nil // the SDK too leaves the output zero for an empty body
	}
	r := *resp.Response
	r.Body = io.NopCloser(bytes.NewReader(s.body))
	return c.ClientProtocol.DeserializeResponse(ctx, schema, reg, &smithyhttp.Response{Response: &r}, out)
}

// readBody reads r to its end into dst, sized once from the Content-Length
// when there is one.
func readBody(dst []byte, r io.Reader, size int64) ([]byte, error) {
	if size > 0 && size < maxPooledBody {
		if need := int(size) + 1; cap(dst) < need { // +1: EOF without growing
			dst = make([]byte, 0, need)
		}
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// maxPooledBody bounds the buffers kept for reuse: a GetRecords reply is at
// most 10 MB of data, about 13.4 MB as base64.
const maxPooledBody = 16 << 20

// decodeScratch is a decoder's reusable working memory. Nothing decoded
// points into it.
type decodeScratch struct {
	body []byte       // the response body
	strs []byte       // every decoded string, back to back
	recs []recordSpan // GetRecords: one per record
	puts []putSpan    // PutRecords: one per result entry
}

// One pool per operation: a GetRecords scratch grows to a whole reply
// (up to ~13 MB), a PutRecords one stays small. Shared, every writer would
// soon hold a reply-sized buffer for its few-kilobyte replies.
var (
	getScratch = sync.Pool{New: func() any { return new(decodeScratch) }}
	putScratch = sync.Pool{New: func() any { return new(decodeScratch) }}
)

func (s *decodeScratch) release(pool *sync.Pool) {
	if cap(s.body) > maxPooledBody || cap(s.strs) > maxPooledBody {
		return
	}
	s.body, s.strs, s.recs, s.puts = s.body[:0], s.strs[:0], s.recs[:0], s.puts[:0]
	pool.Put(s)
}

// strRef locates a decoded string in decodeScratch.strs; n < 0: absent.
type strRef struct{ off, n int }

var noStr = strRef{n: -1}

// recordSpan is one GetRecords record between the scan and the build.
type recordSpan struct {
	data         [2]int // base64 of Data in the body; data[0] < 0: absent
	dataLen      int    // its decoded length
	pk, seq, enc strRef
	ts           time.Time
	hasTS        bool
}

// putSpan is one PutRecords result entry between the scan and the build.
type putSpan struct{ code, msg, seq, shard strRef }

// --- PutRecords request ---

// appendPutRecords appends the JSON body of in to dst exactly as the SDK's
// serializer writes it: members in its order (DryRun, Records, StreamARN,
// StreamId, StreamName; per entry Data, ExplicitHashKey, PartitionKey),
// nil fields left out, strings escaped as it escapes them.
func appendPutRecords(dst []byte, in *kinesis.PutRecordsInput) []byte {
	size := 64 + len(aws.ToString(in.StreamName)) + len(aws.ToString(in.StreamARN)) + len(aws.ToString(in.StreamId))
	for i := range in.Records {
		e := &in.Records[i]
		size += 56 + base64.StdEncoding.EncodedLen(len(e.Data)) + len(aws.ToString(e.PartitionKey)) + len(aws.ToString(e.ExplicitHashKey))
	}
	if cap(dst)-len(dst) < size {
		dst = append(make([]byte, 0, len(dst)+size), dst...)
	}
	dst = append(dst, '{')
	comma := false
	key := func(name string) {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	if in.DryRun != nil {
		key("DryRun")
		dst = strconv.AppendBool(dst, *in.DryRun)
	}
	if in.Records != nil {
		key("Records")
		dst = append(dst, '[')
		for i := range in.Records {
			e := &in.Records[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			sep := false
			if e.Data != nil {
				dst = append(dst, `"Data":"`...)
				dst = base64.StdEncoding.AppendEncode(dst, e.Data)
				dst = append(dst, '"')
				sep = true
			}
			if e.ExplicitHashKey != nil {
				if sep {
					dst = append(dst, ',')
				}
				dst = append(dst, `"ExplicitHashKey":`...)
				dst = appendJSONString(dst, *e.ExplicitHashKey)
				sep = true
			}
			if e.PartitionKey != nil {
				if sep {
					dst = append(dst, ',')
				}
				dst = append(dst, `"PartitionKey":`...)
				dst = appendJSONString(dst, *e.PartitionKey)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if in.StreamARN != nil {
		key("StreamARN")
		dst = appendJSONString(dst, *in.StreamARN)
	}
	if in.StreamId != nil {
		key("StreamId")
		dst = appendJSONString(dst, *in.StreamId)
	}
	if in.StreamName != nil {
		key("StreamName")
		dst = appendJSONString(dst, *in.StreamName)
	}
	return append(dst, '}')
}

// jsonSafe marks the ASCII bytes smithy's JSON encoder writes as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf-1; c++ { // 0x7F (DEL) is escaped
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as smithy-go's JSON encoder does:
// '"' and '\\' backslashed, \n \r \t as such, other control bytes and DEL
// as \u00XX, invalid UTF-8 as U+FFFD, U+2028 and U+2029 as \u2028, \u2029.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// --- JSON scanning ---

// scanner walks a JSON body. Its methods return false on anything the fast
// path does not take; the caller then hands the body to the SDK.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// null consumes a null literal if one comes next.
func (s *scanner) null() bool {
	if s.peek() == 'n' && s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// stringSpan scans a string token; it returns the bytes between the quotes
// and whether they hold escapes. Escapes are checked as the SDK's scanner
// checks them; raw bytes are not checked for UTF-8, nor are they there.
func (s *scanner) stringSpan() (start, end int, escaped, ok bool) {
	if s.peek() != '"' {
		return 0, 0, false, false
	}
	s.i++
	start = s.i
	for s.i < len(s.b) {
		for s.i < len(s.b) && !strSpecial[s.b[s.i]] {
			s.i++
		}
		if s.i == len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			end = s.i
			s.i++
			return start, end, escaped, true
		case c < 0x20:
			return 0, 0, false, false
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return 0, 0, false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return 0, 0, false, false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if unhex(h) < 0 {
						return 0, 0, false, false
					}
				}
				s.i += 6
			default:
				return 0, 0, false, false
			}
		default:
			s.i++
		}
	}
	return 0, 0, false, false
}

// strSpecial marks the bytes a string scan must stop at.
var strSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// key scans an object key and its colon. Escaped keys are left to the SDK,
// which matches them after unescaping.
func (s *scanner) key() ([]byte, bool) {
	start, end, escaped, ok := s.stringSpan()
	if !ok || escaped || !s.eat(':') {
		return nil, false
	}
	return s.b[start:end], true
}

// str scans a string value into dst, unescaping it as the SDK does: raw
// bytes as they are when there is no escape, else as encoding/json's
// unquote (invalid UTF-8 and lone surrogates become U+FFFD).
func (s *scanner) str(dst []byte) ([]byte, strRef, bool) {
	start, end, escaped, ok := s.stringSpan()
	if !ok {
		return dst, noStr, false
	}
	ref := strRef{off: len(dst)}
	if escaped {
		dst = appendUnquoted(dst, s.b[start:end])
	} else {
		dst = append(dst, s.b[start:end]...)
	}
	ref.n = len(dst) - ref.off
	return dst, ref, true
}

// number scans a number token with JSON's grammar (no leading zeros, digits
// after '.' and after the exponent).
func (s *scanner) number() ([]byte, bool) {
	s.ws()
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	d := i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	if i == d || (b[d] == '0' && i-d > 1) {
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d = i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d = i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

// maxSkipDepth bounds the nesting the fast path skips; deeper goes to the
// SDK, which allows 10,000.
const maxSkipDepth = 64

// skip scans over any one JSON value, checking its grammar.
func (s *scanner) skip() bool {
	var closers [maxSkipDepth]byte // what each open container ends with
	depth := 0
	for {
		switch s.peek() { // at a value
		case '{':
			s.i++
			if s.eat('}') {
				break
			}
			if depth == maxSkipDepth {
				return false
			}
			closers[depth] = '}'
			depth++
			if _, ok := s.key(); !ok {
				return false
			}
			continue
		case '[':
			s.i++
			if s.eat(']') {
				break
			}
			if depth == maxSkipDepth {
				return false
			}
			closers[depth] = ']'
			depth++
			continue
		case '"':
			if _, _, _, ok := s.stringSpan(); !ok {
				return false
			}
		case 't':
			if !s.literal("true") {
				return false
			}
		case 'f':
			if !s.literal("false") {
				return false
			}
		case 'n':
			if !s.literal("null") {
				return false
			}
		default:
			if _, ok := s.number(); !ok {
				return false
			}
		}
		for { // after a value: close containers, or on to the next value
			if depth == 0 {
				return true
			}
			c := s.peek()
			if c == closers[depth-1] {
				s.i++
				depth--
				continue
			}
			if c != ',' {
				return false
			}
			s.i++
			if closers[depth-1] == '}' {
				if _, ok := s.key(); !ok {
					return false
				}
			}
			break
		}
	}
}

func (s *scanner) literal(lit string) bool {
	if s.i+len(lit) <= len(s.b) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// parseInt is smithy-go's: an optional '-' and decimal digits, in range.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	const cutoff = math.MaxUint64/10 + 1
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' || n >= cutoff {
			return 0, false
		}
		nn := n*10 + uint64(c-'0')
		if nn < n {
			return 0, false
		}
		n = nn
		if n > uint64(math.MaxInt64) {
			if neg && n == uint64(math.MaxInt64)+1 {
				return math.MinInt64, true
			}
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// intValue scans an integer member the way the SDK's ReadInt64/32 reads it.
func (s *scanner) intValue(lo, hi int64) (int64, bool) {
	tok, ok := s.number()
	if !ok {
		return 0, false
	}
	n, ok := parseInt(tok)
	return n, ok && lo <= n && n <= hi
}

// timeValue scans an epoch-seconds timestamp sent as a number (a string,
// "NaN" or "Infinity", is left to the SDK).
func (s *scanner) timeValue() (time.Time, bool) {
	tok, ok := s.number()
	if !ok {
		return time.Time{}, false
	}
	var f float64
	if n, ok := parseInt(tok); ok {
		f = float64(n)
	} else if f, ok = parseFloat(tok); !ok {
		return time.Time{}, false
	}
	return epochSeconds(f), true
}

func parseFloat(tok []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(tok), 64)
	return f, err == nil
}

// epochSeconds is smithytime.ParseEpochSeconds without big.Float: it
// multiplies by 1000 at 53 bits rounding to nearest even (float64
// multiplication is exactly that while the product is a normal number; a
// subnormal one truncates to 0 both ways, an infinite one saturates as
// big.Float.Int64 does), truncates to milliseconds, and wraps the same way.
func epochSeconds(v float64) time.Time {
	p := v * 1000
	var ms int64
	switch {
	case p >= 1<<63:
		ms = math.MaxInt64
	case p < -(1 << 63):
		ms = math.MinInt64
	default:
		ms = int64(p)
	}
	return time.Unix(0, ms*1e6).UTC()
}

// appendUnquoted is encoding/json's unquoteBytes (as smithy-go copies it)
// appending to dst; s is a string body whose escapes are already checked.
func appendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			r++
			switch s[r] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r-1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[r])
			}
			r++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// getu4 decodes \uXXXX from the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		h := unhex(c)
		if h < 0 {
			return -1
		}
		r = r*16 + h
	}
	return r
}

// --- GetRecords response ---

// Members seen, to leave duplicates to the SDK (where the last one wins,
// but a null one is skipped).
const (
	seenRecords = 1 << iota
	seenNext
	seenMillis
	seenChild
	seenData
	seenPK
	seenSeq
	seenTS
	seenEnc
	seenFailed
	seenCode
	seenMsg
	seenShard
)

// decodeGetRecords decodes a GetRecords reply into out, allocating per
// reply, not per record: the records, one arena for all data, one string
// for all strings, one slice each for the string and time pointers. It
// returns false, out untouched, for anything it leaves to the SDK.
func decodeGetRecords(body []byte, out *kinesis.GetRecordsOutput, scr *decodeScratch) bool {
	s := scanner{b: body}
	recs, strs := scr.recs[:0], scr.strs[:0]
	defer func() { scr.recs, scr.strs = recs, strs }()
	next := noStr
	var millis int64
	seen, haveRecords, haveMillis := 0, false, false
	if !s.eat('{') {
		return false
	}
	if !s.eat('}') {
		for {
			name, ok := s.key()
			if !ok {
				return false
			}
			var bit int
			switch string(name) {
			case "Records":
				bit = seenRecords
			case "NextShardIterator":
				bit = seenNext
			case "MillisBehindLatest":
				bit = seenMillis
			case "ChildShards":
				bit = seenChild
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			switch {
			case bit == 0:
				if !s.skip() {
					return false
				}
			case s.null(): // the SDK skips null members
			case bit == seenRecords:
				haveRecords = true
				if recs, strs, ok = scanRecords(&s, recs, strs); !ok {
					return false
				}
			case bit == seenNext:
				if strs, next, ok = s.str(strs); !ok {
					return false
				}
			case bit == seenMillis:
				if millis, ok = s.intValue(math.MinInt64, math.MaxInt64); !ok {
					return false
				}
				haveMillis = true
			default: // ChildShards: rare (a closed shard's end); the SDK's
				return false
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return false
		}
	}
	if s.peek() != 0 { // trailing bytes: the SDK ignores them; let it
		return false
	}

	// Build. Validate the base64 before touching out.
	nData, nStr, nTS := 0, 0, 0
	for i := range recs {
		r := &recs[i]
		if r.data[0] >= 0 {
			nData += r.dataLen
		}
		nStr += b2i(r.pk.n >= 0) + b2i(r.seq.n >= 0)
		nTS += b2i(r.hasTS)
	}
	nStr += b2i(next.n >= 0)
	arena := make([]byte, nData)
	off := 0
	for i := range recs {
		r := &recs[i]
		if r.data[0] < 0 {
			continue
		}
		n, err := base64.StdEncoding.Decode(arena[off:off+r.dataLen], body[r.data[0]:r.data[1]])
		if err != nil || n != r.dataLen {
			// n short of the length the span implies: the decoder skipped
			// \r or \n, bytes a JSON string cannot hold raw.
			return false
		}
		off += n
	}
	all := string(strs)
	ptrs := make([]string, 0, nStr)
	ptr := func(ref strRef) *string {
		if ref.n < 0 {
			return nil
		}
		ptrs = append(ptrs, all[ref.off:ref.off+ref.n])
		return &ptrs[len(ptrs)-1]
	}
	times := make([]time.Time, 0, nTS)
	if haveRecords {
		out.Records = make([]types.Record, len(recs))
	}
	off = 0
	for i := range recs {
		r, o := &recs[i], &out.Records[i]
		if r.data[0] >= 0 {
			o.Data = arena[off : off+r.dataLen : off+r.dataLen]
			off += r.dataLen
		}
		o.PartitionKey, o.SequenceNumber = ptr(r.pk), ptr(r.seq)
		if r.enc.n >= 0 {
			o.EncryptionType = types.EncryptionType(all[r.enc.off : r.enc.off+r.enc.n])
		}
		if r.hasTS {
			times = append(times, r.ts)
			o.ApproximateArrivalTimestamp = &times[len(times)-1]
		}
	}
	out.NextShardIterator = ptr(next)
	if haveMillis {
		out.MillisBehindLatest = &millis
	}
	return true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scanRecords scans the Records array into spans.
func scanRecords(s *scanner, recs []recordSpan, strs []byte) ([]recordSpan, []byte, bool) {
	if !s.eat('[') {
		return recs, strs, false
	}
	if s.eat(']') {
		return recs, strs, true
	}
	for {
		if !s.eat('{') { // a null element (a zero record) is left to the SDK
			return recs, strs, false
		}
		r := recordSpan{data: [2]int{-1, -1}, pk: noStr, seq: noStr, enc: noStr}
		seen := 0
		if !s.eat('}') {
			for {
				name, ok := s.key()
				if !ok {
					return recs, strs, false
				}
				var bit int
				switch string(name) {
				case "Data":
					bit = seenData
				case "PartitionKey":
					bit = seenPK
				case "SequenceNumber":
					bit = seenSeq
				case "ApproximateArrivalTimestamp":
					bit = seenTS
				case "EncryptionType":
					bit = seenEnc
				}
				if seen&bit != 0 {
					return recs, strs, false
				}
				seen |= bit
				switch {
				case bit == 0:
					ok = s.skip()
				case s.null():
				case bit == seenData:
					ok = s.base64Span(&r)
				case bit == seenPK:
					strs, r.pk, ok = s.str(strs)
				case bit == seenSeq:
					strs, r.seq, ok = s.str(strs)
				case bit == seenTS:
					r.ts, ok = s.timeValue()
					r.hasTS = ok
				case bit == seenEnc:
					strs, r.enc, ok = s.str(strs)
				}
				if !ok {
					return recs, strs, false
				}
				if s.eat(',') {
					continue
				}
				if s.eat('}') {
					break
				}
				return recs, strs, false
			}
		}
		recs = append(recs, r)
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return recs, strs, true
		}
		return recs, strs, false
	}
}

// base64Span finds a Data string and the length it decodes to. It does not
// look inside: the build decodes it, and any byte that is not base64 (an
// escape, a control byte) fails there, or shortens the output.
func (s *scanner) base64Span(r *recordSpan) bool {
	if s.peek() != '"' {
		return false
	}
	start := s.i + 1
	n := bytes.IndexByte(s.b[start:], '"')
	if n < 0 || n%4 != 0 {
		return false
	}
	end := start + n
	s.i = end + 1
	pad := 0
	if n > 0 && s.b[end-1] == '=' {
		pad++
		if s.b[end-2] == '=' {
			pad++
		}
	}
	r.data = [2]int{start, end}
	r.dataLen = n/4*3 - pad
	return true
}

// --- PutRecords response ---

// decodePutRecordsOutput decodes a PutRecords reply into out with one
// allocation each for the entries, their strings and the string pointers.
// It returns false, out untouched, for anything it leaves to the SDK.
func decodePutRecordsOutput(body []byte, out *kinesis.PutRecordsOutput, scr *decodeScratch) bool {
	s := scanner{b: body}
	puts, strs := scr.puts[:0], scr.strs[:0]
	defer func() { scr.puts, scr.strs = puts, strs }()
	enc := noStr
	var failed int64
	seen, haveRecords, haveFailed := 0, false, false
	if !s.eat('{') {
		return false
	}
	if !s.eat('}') {
		for {
			name, ok := s.key()
			if !ok {
				return false
			}
			var bit int
			switch string(name) {
			case "Records":
				bit = seenRecords
			case "FailedRecordCount":
				bit = seenFailed
			case "EncryptionType":
				bit = seenEnc
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			switch {
			case bit == 0:
				ok = s.skip()
			case s.null():
			case bit == seenRecords:
				haveRecords = true
				puts, strs, ok = scanPutResults(&s, puts, strs)
			case bit == seenFailed:
				failed, ok = s.intValue(math.MinInt32, math.MaxInt32)
				haveFailed = true
			case bit == seenEnc:
				strs, enc, ok = s.str(strs)
			}
			if !ok {
				return false
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return false
		}
	}
	if s.peek() != 0 {
		return false
	}
	nStr := 0
	for i := range puts {
		p := &puts[i]
		nStr += b2i(p.code.n >= 0) + b2i(p.msg.n >= 0) + b2i(p.seq.n >= 0) + b2i(p.shard.n >= 0)
	}
	all := string(strs)
	ptrs := make([]string, 0, nStr)
	ptr := func(ref strRef) *string {
		if ref.n < 0 {
			return nil
		}
		ptrs = append(ptrs, all[ref.off:ref.off+ref.n])
		return &ptrs[len(ptrs)-1]
	}
	if haveRecords {
		out.Records = make([]types.PutRecordsResultEntry, len(puts))
		for i := range puts {
			p, o := &puts[i], &out.Records[i]
			o.ErrorCode, o.ErrorMessage, o.SequenceNumber, o.ShardId = ptr(p.code), ptr(p.msg), ptr(p.seq), ptr(p.shard)
		}
	}
	if enc.n >= 0 {
		out.EncryptionType = types.EncryptionType(all[enc.off : enc.off+enc.n])
	}
	if haveFailed {
		n := int32(failed)
		out.FailedRecordCount = &n
	}
	return true
}

func scanPutResults(s *scanner, puts []putSpan, strs []byte) ([]putSpan, []byte, bool) {
	if !s.eat('[') {
		return puts, strs, false
	}
	if s.eat(']') {
		return puts, strs, true
	}
	for {
		if !s.eat('{') {
			return puts, strs, false
		}
		p := putSpan{noStr, noStr, noStr, noStr}
		seen := 0
		if !s.eat('}') {
			for {
				name, ok := s.key()
				if !ok {
					return puts, strs, false
				}
				var bit int
				var ref *strRef
				switch string(name) {
				case "ErrorCode":
					bit, ref = seenCode, &p.code
				case "ErrorMessage":
					bit, ref = seenMsg, &p.msg
				case "SequenceNumber":
					bit, ref = seenSeq, &p.seq
				case "ShardId":
					bit, ref = seenShard, &p.shard
				}
				if seen&bit != 0 {
					return puts, strs, false
				}
				seen |= bit
				switch {
				case bit == 0:
					ok = s.skip()
				case s.null():
				default:
					strs, *ref, ok = s.str(strs)
				}
				if !ok {
					return puts, strs, false
				}
				if s.eat(',') {
					continue
				}
				if s.eat('}') {
					break
				}
				return puts, strs, false
			}
		}
		puts = append(puts, p)
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return puts, strs, true
		}
		return puts, strs, false
	}
}
