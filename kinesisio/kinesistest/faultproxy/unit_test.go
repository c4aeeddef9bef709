package faultproxy

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// These tests need no emulator.

func TestBase64Len_MatchesDecoding(t *testing.T) {
	for n := range 40 {
		data := bytes.Repeat([]byte{0xAB}, n)
		if got := base64Len(base64.StdEncoding.EncodeToString(data)); got != n {
			t.Errorf("padded %d: got %d", n, got)
		}
		if got := base64Len(base64.RawStdEncoding.EncodeToString(data)); got != n {
			t.Errorf("unpadded %d: got %d", n, got)
		}
	}
}

func TestParseStreamARN(t *testing.T) {
	for _, tc := range []struct {
		arn, account, name string
		ok                 bool
	}{
		{"arn:aws:kinesis:us-east-1:000000000000:stream/orders", "000000000000", "orders", true},
		{"arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a.b-c_d", "123456789012", "a.b-c_d", true},
		{"arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1", "1", "s", true},
		{"arn:aws:dynamodb:us-east-1:1:table/t", "", "", false},
		{"arn:aws:kinesis:us-east-1:1:stream/", "", "", false},
		{"orders", "", "", false},
	} {
		account, name, ok := parseStreamARN(tc.arn)
		if account != tc.account || name != tc.name || ok != tc.ok {
			t.Errorf("%q: got %q %q %v", tc.arn, account, name, ok)
		}
	}
}

func TestEntryHashKey(t *testing.T) {
	pk := "customer-42"
	sum := md5.Sum([]byte(pk))
	h, ok := entryHashKey(&entryFields{PartitionKey: &pk})
	if !ok || h != hashKey(sum) {
		t.Errorf("MD5 key: %x %v", h, ok)
	}
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1)).String()
	for _, tc := range []struct {
		ehk string
		ok  bool
	}{{"0", true}, {max, true}, {"340282366920938463463374607431768211456", false}, {"-1", false}, {"x", false}} {
		ehk := tc.ehk
		if _, ok := entryHashKey(&entryFields{PartitionKey: &pk, ExplicitHashKey: &ehk}); ok != tc.ok {
			t.Errorf("EHK %s: ok %v", ehk, ok)
		}
	}
}

func TestStreamShards_FindInclusiveRanges(t *testing.T) {
	hk := func(s string) hashKey { h, _ := parseHashKey(s); return h }
	s := streamShards{open: []shardRange{
		{id: "a", lo: hk("0"), hi: hk("99")},
		{id: "b", lo: hk("100"), hi: hk("199")},
	}}
	for key, want := range map[string]string{"0": "a", "99": "a", "100": "b", "199": "b", "200": ""} {
		if got, _ := s.find(hk(key)); got != want {
			t.Errorf("%s: got %q, want %q", key, got, want)
		}
	}
}

func TestLimiter_Buckets(t *testing.T) {
	t.Run("WritesBurstOneSecondThenRefill", func(t *testing.T) {
		var l limiter
		loc := shardLoc{"s", "a"}
		now := time.Unix(0, 0)
		n := 0
		for range 1500 {
			if l.takeWrite(loc, now, 10) {
				n++
			}
		}
		if n != 1000 {
			t.Errorf("admitted %d, want 1000", n)
		}
		if !l.takeWrite(loc, now.Add(time.Millisecond), 10) || l.takeWrite(loc, now.Add(time.Millisecond), 10) {
			t.Error("1 ms should refill exactly one record")
		}
	})
	t.Run("OversizeRecordNeedsFullBucket", func(t *testing.T) {
		var l limiter
		loc := shardLoc{"s", "a"}
		now := time.Unix(0, 0)
		if !l.takeWrite(loc, now, 2<<20) {
			t.Error("a 2 MiB record on a full bucket is admitted")
		}
		if l.takeWrite(loc, now.Add(time.Second), 1) {
			t.Error("the debt should throttle for about a second")
		}
	})
	t.Run("ReadsFivePerSecondAndDebt", func(t *testing.T) {
		var l limiter
		loc := shardLoc{"s", "a"}
		now := time.Unix(0, 0)
		for i := range 5 {
			if !l.takeRead(loc, now) {
				t.Fatalf("call %d refused", i)
			}
		}
		if l.takeRead(loc, now) {
			t.Error("6th call admitted")
		}
		l.chargeRead(loc, now, 3<<20)
		if l.takeRead(loc, now.Add(400*time.Millisecond)) {
			t.Error("admitted while 1 MiB in debt")
		}
		if !l.takeRead(loc, now.Add(600*time.Millisecond)) {
			t.Error("refused after the debt is repaid")
		}
	})
}

func TestFaults_ValidateListsEveryError(t *testing.T) {
	err := Faults{PutFailRate: 2, ThrottleRate: 0.6, ErrorRate: 0.6, PutFailCode: "Nope", Latency: -1}.Validate()
	for _, want := range []string{"put_fail_rate 2", "must be at most 1", "put_fail_code", "latency"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if err := (Faults{}).Validate(); err != nil {
		t.Errorf("zero faults: %v", err)
	}
}

func TestFaults_JSONRoundTrip(t *testing.T) {
	f := Faults{PutFailRate: 0.3, AmbiguousRate: 0.1, AmbiguousDelay: 2 * time.Second, Latency: 50 * time.Millisecond, Limits: true, Ops: []string{OpPutRecords}}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"latency":"50ms"`) {
		t.Errorf("JSON %s", b)
	}
	var g Faults
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if g.Latency != f.Latency || g.AmbiguousDelay != f.AmbiguousDelay || g.PutFailRate != f.PutFailRate || !g.Limits || len(g.Ops) != 1 {
		t.Errorf("round trip: %+v", g)
	}
	if err := json.Unmarshal([]byte(`{"put_fail_rat":0.3}`), &g); err == nil {
		t.Error("misspelt field accepted")
	}
}

func TestListen_RefusesNonLoopback(t *testing.T) {
	p, err := New("http://127.0.0.1:1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, addr := range []string{":0", "0.0.0.0:0", "192.0.2.1:0"} {
		if _, err := p.Listen(addr); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestNew_RejectsBadOptions(t *testing.T) {
	_, err := New("127.0.0.1:4567", Options{DynamoUpstream: "nope", Faults: Faults{ResetRate: -1}})
	for _, want := range []string{"want http://HOST:PORT", "dynamo upstream", "reset_rate"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// recorder is an upstream that records what reached it and answers with a
// fixed body.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	reply  []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.heads = append(r.heads, req.Header.Clone())
	r.mu.Unlock()
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("X-Upstream", "yes")
	_, _ = w.Write(r.reply)
}

func post(t *testing.T, url, target string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentTypeJSON)
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("X-Custom", "kept")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestPassThrough_ByteForByte(t *testing.T) {
	up := &recorder{reply: []byte(`{"StreamDescriptionSummary" : {"StreamName":"x"}}`)}
	srv := httptest.NewServer(up)
	defer srv.Close()
	p := Start(t, srv.URL, Options{Faults: Faults{ThrottleRate: 1}}) // not in scope for this op
	in := []byte("{ \"StreamName\" :  \"x\" }")
	resp, out := post(t, p.URL(), "Kinesis_20131202.DescribeStreamSummary", in)
	if !bytes.Equal(up.bodies[0], in) || !bytes.Equal(out, up.reply) {
		t.Errorf("request %q → %q, response %q → %q", in, up.bodies[0], up.reply, out)
	}
	if up.heads[0].Get("X-Custom") != "kept" || resp.Header.Get("X-Upstream") != "yes" {
		t.Error("headers not passed through")
	}
}

func TestDynamoUpstream_GetsDynamoCallsUnchanged(t *testing.T) {
	kin := &recorder{reply: []byte(`{}`)}
	dyn := &recorder{reply: []byte(`{"Item":{}}`)}
	ks, ds := httptest.NewServer(kin), httptest.NewServer(dyn)
	defer ks.Close()
	defer ds.Close()
	p := Start(t, ks.URL, Options{DynamoUpstream: ds.URL, Faults: Faults{ResetRate: 1, Ops: []string{"GetItem"}}})
	in := []byte(`{"TableName":"leases","Key":{"leaseKey":{"S":"shardId-0"}}}`)
	_, out := post(t, p.URL(), "DynamoDB_20120810.GetItem", in)
	if len(dyn.bodies) != 1 || !bytes.Equal(dyn.bodies[0], in) || !bytes.Equal(out, dyn.reply) || len(kin.bodies) != 0 {
		t.Errorf("dynamo got %d calls, kinesis %d; response %q", len(dyn.bodies), len(kin.bodies), out)
	}
	if p.Stats().Op("DynamoDB").Requests != 1 {
		t.Errorf("stats %+v", p.Stats())
	}
}

func TestPutRecords_MergeKeepsPositions(t *testing.T) {
	up := `{"EncryptionType":"NONE","FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"a"},{"ErrorCode":"InternalFailure","ErrorMessage":"m"}]}`
	results := []json.RawMessage{[]byte(`{"ErrorCode":"X"}`), nil, []byte(`{"ErrorCode":"Y"}`), nil}
	b, err := mergePutRecords([]byte(up), results)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		EncryptionType    string
		FailedRecordCount int
		Records           []types.PutRecordsResultEntry
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	got := []string{aws.ToString(m.Records[0].ErrorCode), aws.ToString(m.Records[1].SequenceNumber), aws.ToString(m.Records[2].ErrorCode), aws.ToString(m.Records[3].ErrorCode)}
	if strings.Join(got, ",") != "X,1,Y,InternalFailure" || m.FailedRecordCount != 3 || m.EncryptionType != "NONE" {
		t.Errorf("merged %s", b)
	}
	if _, err := mergePutRecords([]byte(`{"Records":[]}`), results); err == nil {
		t.Error("count mismatch accepted")
	}
}

func TestAdmin_SetFaultsAndReadStats(t *testing.T) {
	up := &recorder{reply: []byte(`{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"a"}]}`)}
	srv := httptest.NewServer(up)
	defer srv.Close()
	p := Start(t, srv.URL, Options{})
	admin := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, p.URL()+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := admin("POST", "/_faults", `{"stream":"hot","faults":{"throttle_rate":1}}`); code != 200 || !strings.Contains(body, `"hot"`) {
		t.Fatalf("set: %d %s", code, body)
	}
	for _, bad := range []string{`{"stream":"hot","faults":{"throttle_rate":2}}`, `{"stream":"hot","faults":{"throtle_rate":1}}`, `nope`, `{"stream":"hot"}`} {
		if code, _ := admin("POST", "/_faults", bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	c := newClient(p.URL())
	ctx := testCtx(t)
	recs := []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("v")}}
	_, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("hot"), Records: recs})
	var pt *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pt) {
		t.Errorf("hot stream: %v, want throttled", err)
	}
	if _, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("cold"), Records: recs}); err != nil {
		t.Errorf("other stream: %v", err)
	}
	code, body := admin("GET", "/_stats", "")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Op(OpPutRecords).Throttled != 1 || st.Op(OpPutRecords).Requests != 2 || st.Seed != p.Seed() {
		t.Errorf("stats %d %s", code, body)
	}
	if code, _ := admin("POST", "/_faults", `{"stream":"hot","clear":true}`); code != 200 {
		t.Errorf("clear: %d", code)
	}
	if _, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("hot"), Records: recs}); err != nil {
		t.Errorf("after clear: %v", err)
	}
}

func TestClose_IsIdempotentAndWakesDelayedCalls(t *testing.T) {
	up := &recorder{reply: []byte(`{}`)}
	srv := httptest.NewServer(up)
	defer srv.Close()
	p := Start(t, srv.URL, Options{Faults: Faults{Latency: time.Minute, Ops: []string{"DescribeStreamSummary"}}})
	done := make(chan error, 1)
	go func() {
		_, err := newClient(p.URL()).DescribeStreamSummary(testCtx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
		done <- err
	}()
	for p.Stats().Op("DescribeStreamSummary").Delayed == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	_ = p.Close()
	_ = p.Close()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Close took %v", el)
	}
	if err := <-done; err == nil {
		t.Error("the delayed call succeeded after Close")
	}
}
