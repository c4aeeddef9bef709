package kinesisio

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithy "github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithytime "github.com/aws/smithy-go/time"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// The SDK's own codec, called directly: the oracle.
var (
	sdkProtocol    = awsjson.New11(schemas.Kinesis_20131202)
	getRecordsOp   = smithy.NewOperationSchema(schemas.GetRecords, schemas.GetRecordsInput, schemas.GetRecordsOutput)
	putRecordsOp   = smithy.NewOperationSchema(schemas.PutRecords, schemas.PutRecordsInput, schemas.PutRecordsOutput)
	fastProtocol   = fastCodec{sdkProtocol}
	errPanicked    = errors.New("the SDK decoder panicked")
	codecTestCases = getRecordsBodies()
)

func httpResponse(status int, body []byte) *smithyhttp.Response {
	return &smithyhttp.Response{Response: &http.Response{
		StatusCode: status, Header: http.Header{}, ContentLength: int64(len(body)),
		Body: io.NopCloser(bytes.NewReader(body)),
	}}
}

// sdkDecode decodes a 200 reply with the SDK's codec. The SDK panics on a
// "NaN" timestamp (big.NewFloat); that is reported as an error.
func sdkDecode(op *smithy.OperationSchema, body []byte, out smithy.Deserializable) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanicked, r)
		}
	}()
	return sdkProtocol.DeserializeResponse(context.Background(), op, kinesis.TypeRegistry, httpResponse(200, body), out)
}

// sdkBody serializes in with the SDK's codec.
func sdkBody(t testing.TB, op *smithy.OperationSchema, in smithy.Serializable) []byte {
	t.Helper()
	req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	if err := sdkProtocol.SerializeRequest(context.Background(), op, in, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(req.GetStream())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oddStrings are partition keys (user data from DMS rows) that exercise
// every escaping rule.
var oddStrings = []string{
	"", "plain", `q"uote`, `back\slash`, "nl\n cr\r tab\t", "\x00\x01\x1f\x7f", "\b\f",
	"é ü 日本 🙂", "\u2028\u2029", "bad\xffutf8\xc3", "\xed\xa0\x80 surrogate", "</script>&<>",
	strings.Repeat("k", 256), "\\u0041 not an escape", "'single'", "/slash/",
}

func randomEntries(r *rand.Rand, n int) []types.PutRecordsRequestEntry {
	entries := make([]types.PutRecordsRequestEntry, n)
	for i := range entries {
		e := &entries[i]
		switch r.IntN(8) {
		case 0:
			e.Data = []byte{}
		case 1: // nil: left out
		default:
			e.Data = make([]byte, r.IntN(700))
			for j := range e.Data {
				e.Data[j] = byte(r.IntN(256))
			}
		}
		if r.IntN(10) > 0 {
			e.PartitionKey = aws.String(oddStrings[r.IntN(len(oddStrings))] + randomString(r))
		}
		if r.IntN(2) == 0 {
			e.ExplicitHashKey = aws.String(fmt.Sprint(r.Uint64()))
		}
	}
	return entries
}

func randomString(r *rand.Rand) string {
	b := make([]byte, r.IntN(12))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func TestCodec_PutRecordsBodyIsTheSDKs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := []*kinesis.PutRecordsInput{
		{},
		{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{}},
		{StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/wide"), Records: randomEntries(r, 3)},
		{StreamName: aws.String(`n"\`), StreamARN: aws.String("a"), StreamId: aws.String("id"), DryRun: aws.Bool(true), Records: randomEntries(r, 2)},
		{StreamName: aws.String("s"), DryRun: aws.Bool(false), Records: []types.PutRecordsRequestEntry{{}}},
	}
	for _, s := range oddStrings {
		inputs = append(inputs, &kinesis.PutRecordsInput{StreamName: aws.String(s), Records: []types.PutRecordsRequestEntry{
			{Data: []byte(s), PartitionKey: aws.String(s), ExplicitHashKey: aws.String(s)}}})
	}
	for range 200 {
		inputs = append(inputs, &kinesis.PutRecordsInput{StreamName: aws.String("wide"), Records: randomEntries(r, 1+r.IntN(20))})
	}
	for i, in := range inputs {
		want := sdkBody(t, putRecordsOp, in)
		if got := appendPutRecords(nil, in); !bytes.Equal(got, want) {
			t.Fatalf("input %d: body\n  %q\nwant the SDK's\n  %q", i, got, want)
		}
	}
}

// codecServer records requests and answers with canned replies.
type codecServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   []byte
	reqs   []capturedRequest
}

type capturedRequest struct {
	header http.Header
	body   []byte
}

func newCodecServer(t *testing.T) *codecServer {
	s := &codecServer{status: 200, body: []byte(`{}`)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reqs = append(s.reqs, capturedRequest{r.Header.Clone(), b})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-RequestId", "req-1")
		w.WriteHeader(s.status)
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *codecServer) reply(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, []byte(body)
}

func (s *codecServer) takeRequests() []capturedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

// codecClients returns a fast-codec and an SDK-codec client of url.
func codecClients(t *testing.T, url string) (fast, sdk *kinesis.Client) {
	t.Helper()
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	var err error
	if fast, err = NewClient(t.Context(), ClientOptions{EndpointURL: url}); err != nil {
		t.Fatal(err)
	}
	if sdk, err = NewClient(t.Context(), ClientOptions{EndpointURL: url, SDKCodec: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := fast.Options().Protocol.(fastCodec); !ok {
		t.Fatalf("fast client protocol %T: want fastCodec", fast.Options().Protocol)
	}
	if _, ok := sdk.Options().Protocol.(fastCodec); ok {
		t.Fatal("SDKCodec client uses the fast codec")
	}
	return fast, sdk
}

// sameRequestHeaders are the headers both codecs must set alike; the rest
// (signature, date, invocation ID) differ per call.
var sameRequestHeaders = []string{"X-Amz-Target", "Content-Type", "Content-Length", "Accept-Encoding", "X-Amz-Content-Sha256"}

func TestCodec_PutRecordsOverHTTPMatchesSDK(t *testing.T) {
	srv := newCodecServer(t)
	fast, sdk := codecClients(t, srv.URL)
	ctx := t.Context()
	r := rand.New(rand.NewPCG(3, 4))
	replies := []string{
		`{"FailedRecordCount":0,"Records":[{"SequenceNumber":"4960","ShardId":"shardId-000000000001"}],"EncryptionType":"NONE"}`,
		`{"FailedRecordCount":1,"Records":[{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard \"s\" \u00e9"},{"SequenceNumber":"1","ShardId":"shardId-0"}]}`,
		`{"Records":[]}`,
		`{"Records":null,"FailedRecordCount":null,"Extra":{"a":[1,2,{"b":null}]}}`,
		` { "EncryptionType" : "KMS" , "Records" : [ { } , {"ShardId":"x"} ] } `,
		`{"Records":[null]}`, // a null entry: left to the SDK
		`{}`,
		``,
	}
	for i, reply := range replies {
		srv.reply(200, reply)
		in := &kinesis.PutRecordsInput{StreamName: aws.String("wide"), Records: randomEntries(r, 1+r.IntN(30))}
		if i%2 == 1 {
			in = &kinesis.PutRecordsInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:1:stream/wide"), Records: in.Records}
		}
		for j := range in.Records { // the SDK's validation wants a key and data
			if in.Records[j].PartitionKey == nil {
				in.Records[j].PartitionKey = aws.String("k")
			}
			if in.Records[j].Data == nil {
				in.Records[j].Data = []byte{}
			}
		}
		gotOut, gotErr := retryClosed(func() (*kinesis.PutRecordsOutput, error) { return fast.PutRecords(ctx, in) })
		wantOut, wantErr := retryClosed(func() (*kinesis.PutRecordsOutput, error) { return sdk.PutRecords(ctx, in) })
		reqs := srv.takeRequests()
		if len(reqs) < 2 {
			t.Fatalf("reply %d: %d requests, want 2", i, len(reqs))
		}
		reqs = []capturedRequest{reqs[0], reqs[len(reqs)-1]} // the first fast one, the last SDK one
		if !bytes.Equal(reqs[0].body, reqs[1].body) {
			t.Errorf("reply %d: request bodies differ:\nfast %q\nsdk  %q", i, reqs[0].body, reqs[1].body)
		}
		var a, b any
		if err := json.Unmarshal(reqs[0].body, &a); err != nil {
			t.Errorf("reply %d: fast body is not JSON: %v", i, err)
		}
		if err := json.Unmarshal(reqs[1].body, &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("reply %d: bodies decode differently (%v)", i, err)
		}
		for _, h := range sameRequestHeaders {
			if f, s := reqs[0].header.Values(h), reqs[1].header.Values(h); !reflect.DeepEqual(f, s) {
				t.Errorf("reply %d: header %s: fast %q, sdk %q", i, h, f, s)
			}
		}
		if (gotErr != nil) != (wantErr != nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("reply %d: fast err %v, sdk err %v", i, gotErr, wantErr)
		}
		if gotErr != nil {
			continue
		}
		if id, _ := awsmiddleware.GetRequestIDMetadata(gotOut.ResultMetadata); id != "req-1" {
			t.Errorf("reply %d: request ID %q in the fast client's metadata", i, id)
		}
		gotOut.ResultMetadata, wantOut.ResultMetadata = middleware.Metadata{}, middleware.Metadata{}
		if !reflect.DeepEqual(gotOut, wantOut) {
			t.Errorf("reply %d: output\n  %+v\nwant the SDK's\n  %+v", i, gotOut, wantOut)
		}
	}
}

type getRecordsCase struct {
	name string
	body string
	fast bool // the fast path takes it (no fallback to the SDK)
}

func getRecordsBodies() []getRecordsCase {
	var many strings.Builder
	many.WriteString(`{"Records":[`)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		if i > 0 {
			many.WriteString(",")
		}
		data := make([]byte, r.IntN(600))
		for j := range data {
			data[j] = byte(r.IntN(256))
		}
		fmt.Fprintf(&many, `{"SequenceNumber":"4959%020d","ApproximateArrivalTimestamp":%d.%03d,"Data":%q,"PartitionKey":"shop.orders.%d"}`,
			i, 1717171717+i, r.IntN(1000), b64(data), i)
	}
	many.WriteString(`],"NextShardIterator":"AAAAAAAAAAH","MillisBehindLatest":0}`)
	return []getRecordsCase{
		{"many", many.String(), true},
		{"zero records", `{"Records":[],"NextShardIterator":"it","MillisBehindLatest":12}`, true},
		{"closed shard end", `{"Records":[],"MillisBehindLatest":0}`, true},
		{"empty object", `{}`, true},
		{"empty body", ``, false}, // DeserializeResponse returns before decoding, as the SDK does
		{"escapes everywhere", `{"Records":[{"Data":"","PartitionKey":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u65e5\ud83d\ude42","SequenceNumber":"\u0031\u0032","EncryptionType":"K\u004dS","ApproximateArrivalTimestamp":1.5}],"NextShardIterator":"\u0069t\n"}`, true},
		{"lone and broken surrogates", `{"Records":[{"PartitionKey":"\ud800 \udc00 \ud800\u0041 \ud83d\ud83d\ude42 \uDFFF","SequenceNumber":"x\ud800"}]}`, true},
		{"raw invalid UTF-8, no escape", "{\"Records\":[{\"PartitionKey\":\"bad\xff\xc3\",\"SequenceNumber\":\"\xed\xa0\x80\"}]}", true},
		{"raw invalid UTF-8 with an escape", "{\"Records\":[{\"PartitionKey\":\"bad\xff\\n\xc3\",\"SequenceNumber\":\"\\t\xed\xa0\x80\"}]}", true},
		{"timestamps", `{"Records":[{"ApproximateArrivalTimestamp":1717171717},{"ApproximateArrivalTimestamp":1717171717.123},{"ApproximateArrivalTimestamp":1.717171717123E9},{"ApproximateArrivalTimestamp":1.7e9},{"ApproximateArrivalTimestamp":-1.5},{"ApproximateArrivalTimestamp":0},{"ApproximateArrivalTimestamp":-0.0},{"ApproximateArrivalTimestamp":1e-400},{"ApproximateArrivalTimestamp":9.999999999999999e15},{"ApproximateArrivalTimestamp":1e300},{"ApproximateArrivalTimestamp":-1e300},{"ApproximateArrivalTimestamp":99999999999999999999},{"ApproximateArrivalTimestamp":1717171717.1239999}]}`, true},
		{"missing optional fields", `{"Records":[{},{"Data":"QQ=="},{"SequenceNumber":"1"}],"NextShardIterator":null,"MillisBehindLatest":null}`, true},
		{"nulls", `{"Records":[{"Data":null,"PartitionKey":null,"SequenceNumber":null,"ApproximateArrivalTimestamp":null,"EncryptionType":null}]}`, true},
		{"records null", `{"Records":null,"NextShardIterator":"x"}`, true},
		{"unknown fields", `{"X":{"a":[1,{"b":[true,false,null,"s\"",-1.5e+3,{}]},[]],"c":{}},"Records":[{"Y":[[[]]],"Data":"QUJD","Z":"\u0000"}],"W":-0,"V":"x"}`, true},
		{"whitespace everywhere", " \n\t{ \r\n \"Records\" :\t[ { \"Data\" : \"QUJD\" , \"PartitionKey\" : \"k\" } , { } ] , \"MillisBehindLatest\" : 5 } \n", true},
		{"any order", `{"MillisBehindLatest":7,"NextShardIterator":"n","Records":[{"PartitionKey":"k","ApproximateArrivalTimestamp":2,"EncryptionType":"NONE","SequenceNumber":"s","Data":"QUI="}]}`, true},
		{"base64 padding", `{"Records":[{"Data":"QQ=="},{"Data":"QUI="},{"Data":"QUJD"},{"Data":"QUJDRA=="},{"Data":"QR=="}]}`, true},
		{"child shards", `{"Records":[{"Data":"QUJD","SequenceNumber":"1"}],"MillisBehindLatest":0,"ChildShards":[{"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000","shardId-000000000001"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"}}]}`, false},
		{"child shards null", `{"ChildShards":null,"Records":[]}`, true},
		{"millis extremes", `{"MillisBehindLatest":-9223372036854775808}`, true},
		// left to the SDK, which accepts them
		{"null record", `{"Records":[null,{"Data":"QUJD"}]}`, false},
		{"duplicate key", `{"Records":[{"Data":"QUJD","Data":"REVG"}]}`, false},
		{"duplicate top-level key", `{"NextShardIterator":"a","NextShardIterator":null}`, false},
		{"escaped key", `{"Records":[{"D\u0061ta":"QUJD"}]}`, false},
		{"string timestamp", `{"Records":[{"ApproximateArrivalTimestamp":"Infinity"}]}`, false},
		{"base64 with escaped newline", `{"Records":[{"Data":"QU\nJD"}]}`, false},
		{"base64 with escaped newlines, length 4k", `{"Records":[{"Data":"QUJD\n\n\n\nQUJD"}]}`, false},
		{"trailing bytes", `{"Records":[]} trailing`, false},
		{"null body", `null`, false},
		{"deep unknown value", `{"X":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, false},
		// left to the SDK, which rejects them
		{"bad base64", `{"Records":[{"Data":"QUJ"}]}`, false},
		{"bad base64 char", `{"Records":[{"Data":"QU*D"}]}`, false},
		{"timestamp out of range", `{"Records":[{"ApproximateArrivalTimestamp":1e400}]}`, false},
		{"millis fraction", `{"MillisBehindLatest":1.5}`, false},
		{"millis overflow", `{"MillisBehindLatest":9223372036854775808}`, false},
		{"records not a list", `{"Records":{}}`, false},
		{"truncated", `{"Records":[{"Data":"QUJD"`, false},
		{"leading zero", `{"X":01}`, false},
		{"bad escape", `{"Records":[{"PartitionKey":"\x"}]}`, false},
		{"single-quote escape", `{"Records":[{"PartitionKey":"\'"}]}`, false},
		{"control byte", "{\"Records\":[{\"PartitionKey\":\"a\x01\"}]}", false},
		{"trailing comma", `{"Records":[{"Data":"QUJD"},]}`, false},
		{"whitespace only", " \n", false},
		{"not an object", `[]`, false},
		{"NaN timestamp", `{"Records":[{"ApproximateArrivalTimestamp":"NaN"}]}`, false},
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// compareGetRecords decodes body with both codecs: the fast one (with its
// fallback) must give what the SDK gives; fastOK says whether the fast
// path took it.
func compareGetRecords(t testing.TB, body []byte) (fastOK bool) {
	t.Helper()
	var fastOnly kinesis.GetRecordsOutput
	fastOK = decodeGetRecords(body, &fastOnly, new(decodeScratch))
	var want, got kinesis.GetRecordsOutput
	wantErr := sdkDecode(getRecordsOp, body, &want)
	if errors.Is(wantErr, errPanicked) {
		if fastOK {
			t.Fatalf("fast path accepted a body the SDK panics on: %q", body)
		}
		return false // the full fast codec would panic as the SDK does
	}
	gotErr := fastProtocol.DeserializeResponse(context.Background(), getRecordsOp, kinesis.TypeRegistry, httpResponse(200, body), &got)
	if fastOK {
		if wantErr != nil {
			t.Fatalf("fast path accepted a body the SDK rejects (%v): %q", wantErr, body)
		}
		if !reflect.DeepEqual(&fastOnly, &want) {
			t.Fatalf("fast path output\n  %s\nwant the SDK's\n  %s\nbody %q", dump(&fastOnly), dump(&want), body)
		}
	} else if !reflect.DeepEqual(fastOnly, kinesis.GetRecordsOutput{}) {
		t.Fatalf("fast path declined but wrote its output: %q", body)
	}
	if (gotErr != nil) != (wantErr != nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("fast codec err %v, SDK err %v, body %q", gotErr, wantErr, body)
	}
	if !reflect.DeepEqual(&got, &want) {
		t.Fatalf("fast codec output\n  %s\nwant the SDK's\n  %s\nbody %q", dump(&got), dump(&want), body)
	}
	return fastOK
}

func dump(o *kinesis.GetRecordsOutput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "next=%s millis=%v child=%v records(nil=%v):", ptrStr(o.NextShardIterator), o.MillisBehindLatest, o.ChildShards, o.Records == nil)
	for _, r := range o.Records {
		ts := "<nil>"
		if r.ApproximateArrivalTimestamp != nil {
			ts = r.ApproximateArrivalTimestamp.Format(time.RFC3339Nano)
		}
		fmt.Fprintf(&b, "\n    {data(nil=%v)=%q pk=%s seq=%s ts=%s enc=%q}", r.Data == nil, r.Data, ptrStr(r.PartitionKey), ptrStr(r.SequenceNumber), ts, r.EncryptionType)
	}
	return b.String()
}

func ptrStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

func TestCodec_GetRecordsDecodesAsTheSDK(t *testing.T) {
	for _, tc := range codecTestCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := compareGetRecords(t, []byte(tc.body)); got != tc.fast {
				t.Errorf("fast path took it: %v, want %v", got, tc.fast)
			}
		})
	}
}

func TestCodec_GetRecordsDataCannotOverwriteANeighbour(t *testing.T) {
	var out kinesis.GetRecordsOutput
	if !decodeGetRecords([]byte(`{"Records":[{"Data":"QUJD"},{"Data":"REVG"},{"Data":""}]}`), &out, new(decodeScratch)) {
		t.Fatal("declined")
	}
	for i, r := range out.Records {
		if cap(r.Data) != len(r.Data) {
			t.Errorf("record %d: cap %d > len %d", i, cap(r.Data), len(r.Data))
		}
	}
	_ = append(out.Records[0].Data, 'X')
	if string(out.Records[1].Data) != "DEF" {
		t.Errorf("append to record 0 changed record 1 to %q", out.Records[1].Data)
	}
}

func TestCodec_GetRecordsOverHTTPMatchesSDK(t *testing.T) {
	srv := newCodecServer(t)
	fast, sdk := codecClients(t, srv.URL)
	ctx := t.Context()
	for _, tc := range codecTestCases {
		if strings.Contains(tc.name, "NaN") {
			continue // the SDK panics
		}
		srv.reply(200, tc.body)
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String("it"), Limit: aws.Int32(10000)}
		got, gotErr := retryClosed(func() (*kinesis.GetRecordsOutput, error) { return fast.GetRecords(ctx, in) })
		want, wantErr := retryClosed(func() (*kinesis.GetRecordsOutput, error) { return sdk.GetRecords(ctx, in) })
		reqs := srv.takeRequests()
		if len(reqs) < 2 || !bytes.Equal(reqs[0].body, reqs[len(reqs)-1].body) {
			t.Fatalf("%s: GetRecords requests differ", tc.name)
		}
		if (gotErr != nil) != (wantErr != nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("%s: fast err %v, sdk err %v", tc.name, gotErr, wantErr)
		}
		if gotErr != nil {
			continue
		}
		if id, _ := awsmiddleware.GetRequestIDMetadata(got.ResultMetadata); id != "req-1" {
			t.Errorf("%s: request ID %q in the fast client's metadata", tc.name, id)
		}
		got.ResultMetadata, want.ResultMetadata = middleware.Metadata{}, middleware.Metadata{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: output\n  %s\nwant the SDK's\n  %s", tc.name, dump(got), dump(want))
		}
	}
}

func TestCodec_ErrorStatusesAreTheSDKs(t *testing.T) {
	srv := newCodecServer(t)
	fast, sdk := codecClients(t, srv.URL)
	ctx := t.Context()
	for _, tc := range []struct {
		status int
		body   string
		code   string
		target any
	}{
		{400, `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded"}`, "ProvisionedThroughputExceededException", new(*types.ProvisionedThroughputExceededException)},
		{400, `{"__type":"ExpiredIteratorException","message":"Iterator expired"}`, "ExpiredIteratorException", new(*types.ExpiredIteratorException)},
		{400, `{"__type":"com.amazonaws.kinesis#ResourceNotFoundException","message":"no stream"}`, "ResourceNotFoundException", new(*types.ResourceNotFoundException)},
		{500, `{"__type":"InternalFailure","message":"oops"}`, "InternalFailure", nil},
		{503, ``, "UnknownError", nil},
		{400, `not json`, "", nil},
	} {
		srv.reply(tc.status, tc.body)
		for _, call := range []func(*kinesis.Client) error{
			func(c *kinesis.Client) error {
				_, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("it")})
				return err
			},
			func(c *kinesis.Client) error {
				_, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"),
					Records: []types.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("k")}}})
				return err
			},
		} {
			retried := func(c *kinesis.Client) error {
				_, err := retryClosed(func() (struct{}, error) { return struct{}{}, call(c) })
				return err
			}
			gotErr, wantErr := retried(fast), retried(sdk)
			if gotErr == nil || wantErr == nil || gotErr.Error() != wantErr.Error() {
				t.Fatalf("%d %s: fast err %v, sdk err %v", tc.status, tc.body, gotErr, wantErr)
			}
			var ae smithy.APIError
			if tc.code != "" && (!errors.As(gotErr, &ae) || ae.ErrorCode() != tc.code) {
				t.Errorf("%d %s: fast err %v: want API error code %s", tc.status, tc.body, gotErr, tc.code)
			}
			if tc.target != nil && !errors.As(gotErr, tc.target) {
				t.Errorf("%d %s: fast err %T is not %T", tc.status, tc.body, gotErr, tc.target)
			}
			if reflect.TypeOf(errors.Unwrap(errors.Unwrap(gotErr))) != reflect.TypeOf(errors.Unwrap(errors.Unwrap(wantErr))) {
				t.Errorf("%d %s: fast err type %T, sdk %T", tc.status, tc.body, gotErr, wantErr)
			}
		}
	}
}

func TestCodec_PutRecordsOutputDecodesAsTheSDK(t *testing.T) {
	for _, tc := range putRecordsOutputBodies {
		if got := comparePutRecordsOutput(t, []byte(tc.body)); got != tc.fast {
			t.Errorf("%s: fast path took it: %v, want %v", tc.body, got, tc.fast)
		}
	}
}

var putRecordsOutputBodies = []struct {
	body string
	fast bool
}{
	{`{"FailedRecordCount":0,"Records":[{"SequenceNumber":"4960","ShardId":"shardId-000000000001"}],"EncryptionType":"NONE"}`, true},
	{`{"FailedRecordCount":2,"Records":[{"ErrorCode":"InternalFailure","ErrorMessage":"Internal Service Failure"},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard shardId-000000000001 in stream wide under account 123456789012.\u00e9"}]}`, true},
	{`{"Records":[]}`, true},
	{`{}`, true},
	{`{"Records":null,"FailedRecordCount":null,"EncryptionType":null}`, true},
	{`{"Records":[{},{"ShardId":null,"X":[{}]}],"FailedRecordCount":-2147483648}`, true},
	{`{"Records":[null]}`, false},               // the SDK: a zero entry
	{`{"FailedRecordCount":2147483648}`, false}, // the SDK: out of range
	{`{"FailedRecordCount":1.0}`, false},        // the SDK: invalid int
	{`{"Records":[{"ShardId":1}]}`, false},      // the SDK: expected string
}

func comparePutRecordsOutput(t testing.TB, body []byte) (fastOK bool) {
	t.Helper()
	var fastOnly, got, want kinesis.PutRecordsOutput
	fastOK = decodePutRecordsOutput(body, &fastOnly, new(decodeScratch))
	wantErr := sdkDecode(putRecordsOp, body, &want)
	gotErr := fastProtocol.DeserializeResponse(context.Background(), putRecordsOp, kinesis.TypeRegistry, httpResponse(200, body), &got)
	if fastOK && (wantErr != nil || !reflect.DeepEqual(&fastOnly, &want)) {
		t.Fatalf("fast path: %+v, SDK: %+v, %v; body %q", fastOnly, want, wantErr, body)
	}
	if !fastOK && !reflect.DeepEqual(fastOnly, kinesis.PutRecordsOutput{}) {
		t.Fatalf("fast path declined but wrote its output: %q", body)
	}
	if (gotErr != nil) != (wantErr != nil) || gotErr != nil && gotErr.Error() != wantErr.Error() || !reflect.DeepEqual(&got, &want) {
		t.Fatalf("fast codec %+v, %v; SDK %+v, %v; body %q", got, gotErr, want, wantErr, body)
	}
	return fastOK
}

func TestCodec_EpochSecondsIsSmithys(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.0005, 0.001, 1717171717.123, 1717171717.1239999, -1717171717.999,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 9.223372036854775e15, 9.223372036854776e15, -9.223372036854776e15,
		9.2233720368547758e18, 1 << 62, 1e16, -1e19, math.Inf(1), math.Inf(-1)}
	for range 100_000 {
		vals = append(vals, math.Float64frombits(r.Uint64()), r.Float64()*2e9, float64(r.Int64N(1<<53))/1000, (r.Float64()-0.5)*1e20)
	}
	for _, v := range vals {
		if math.IsNaN(v) {
			continue
		}
		if got, want := epochSeconds(v), smithytime.ParseEpochSeconds(v); !got.Equal(want) || !reflect.DeepEqual(got, want) {
			t.Fatalf("epochSeconds(%v) = %v, want smithy's %v", v, got, want)
		}
	}
}

func TestCodec_OtherOperationsUseTheSDKCodec(t *testing.T) {
	srv := newCodecServer(t)
	fast, sdk := codecClients(t, srv.URL)
	ctx := t.Context()
	srv.reply(200, `{"Shards":[{"ShardId":"shardId-0","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"1"},"SequenceNumberRange":{"StartingSequenceNumber":"1"}}],"NextToken":"t"}`)
	got, gotErr := fast.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
	want, wantErr := sdk.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
	if gotErr != nil || wantErr != nil {
		t.Fatal(gotErr, wantErr)
	}
	got.ResultMetadata, want.ResultMetadata = middleware.Metadata{}, middleware.Metadata{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListShards: %+v, want %+v", got, want)
	}
	reqs := srv.takeRequests()
	if len(reqs) != 2 || !bytes.Equal(reqs[0].body, reqs[1].body) || reqs[0].header.Get("X-Amz-Target") != "Kinesis_20131202.ListShards" {
		t.Errorf("ListShards requests differ")
	}
}

// retryClosed repeats a call whose connection the transport closed under
// it while the reply was read. That is a race in the SDK's HTTP path, not a
// codec result: the transport's write loop sees the request body closed
// (WroteRequest: EOF) and drops the connection; it shows with either codec
// and with a bare kinesis.New client, on large replies from this server.
func retryClosed[T any](call func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := call()
		if i < 3 && errors.Is(err, net.ErrClosed) {
			continue
		}
		return v, err
	}
}

type (
	smithyResponse = smithyhttp.Response
	smithyRequest  = smithyhttp.Request
)

func newStackRequest() *smithyhttp.Request { return smithyhttp.NewStackRequest().(*smithyhttp.Request) }

// TestCodec_GetRecordsAllocatesPerReplyNotPerRecord pins the fast path's
// allocations to a constant per reply, however many records it holds.
func TestCodec_GetRecordsAllocatesPerReplyNotPerRecord(t *testing.T) {
	body := func(n int) []byte {
		var sb strings.Builder
		sb.WriteString(`{"Records":[`)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"SequenceNumber":"%d","ApproximateArrivalTimestamp":1.5,"Data":"QUJD","PartitionKey":"k\n%d","EncryptionType":"NONE"}`, i, i)
		}
		sb.WriteString(`],"NextShardIterator":"it","MillisBehindLatest":3}`)
		return []byte(sb.String())
	}
	allocs := func(b []byte) float64 {
		scr := new(decodeScratch)
		return testing.AllocsPerRun(20, func() {
			var out kinesis.GetRecordsOutput
			if !decodeGetRecords(b, &out, scr) {
				t.Fatal("declined")
			}
		})
	}
	if few, many := allocs(body(10)), allocs(body(1000)); few != many || many > 8 {
		t.Errorf("allocations: %v for 10 records, %v for 1000; want the same, at most 8", few, many)
	}
}
