package faultproxy

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"time"
)

// What AWS Kinesis sends, and what the Go SDK makes of it (smithy-go's
// awsjson protocol reads the code from X-Amzn-ErrorType, else `__type`,
// else `code`, and looks it up in the service's type registry):
//
//	400 {"__type":"ProvisionedThroughputExceededException"} → *types.ProvisionedThroughputExceededException
//	400 {"__type":"ExpiredIteratorException"}               → *types.ExpiredIteratorException
//	400 {"__type":"LimitExceededException"}                 → *types.LimitExceededException
//	500 {"__type":"InternalFailure"}                        → *smithy.GenericAPIError, Code "InternalFailure"
//
// The last is not *types.InternalFailureException: that shape (code
// "InternalFailureException") only occurs inside SubscribeToShard event
// streams; a whole-call 500 carries the common error code InternalFailure,
// for which the registry has no type.
const (
	typeThroughput      = "ProvisionedThroughputExceededException"
	typeLimitExceeded   = "LimitExceededException"
	typeExpiredIterator = "ExpiredIteratorException"
	typeInternal        = "InternalFailure"

	msgInternal = "Internal service failure."

	contentTypeJSON = "application/x-amz-json-1.1"

	targetKinesis = "Kinesis_20131202."
	targetDynamo  = "DynamoDB_"

	// defaultAccount is the account in messages when no ARN names one;
	// kinesalite's own ARNs use it too.
	defaultAccount = "000000000000"
)

// isJSON says whether a request's Content-Type is one of the JSON forms the
// proxy understands; others (CBOR from the Java SDK) pass through unfaulted.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/x-amz-json-1.1" || mt == "application/x-amz-json-1.0" || mt == "application/json"
}

// streamNameOps are the operations whose input has a StreamName member next
// to StreamARN; only these get a StreamName parsed from a lone StreamARN.
// (GetRecords and the consumer calls take StreamARN only.)
var streamNameOps = map[string]bool{
	"AddTagsToStream":               true,
	"DecreaseStreamRetentionPeriod": true,
	"DeleteStream":                  true,
	"DescribeStream":                true,
	"DescribeStreamSummary":         true,
	"DisableEnhancedMonitoring":     true,
	"EnableEnhancedMonitoring":      true,
	OpGetShardIterator:              true,
	"IncreaseStreamRetentionPeriod": true,
	OpListShards:                    true,
	"ListTagsForStream":             true,
	"MergeShards":                   true,
	OpPutRecord:                     true,
	OpPutRecords:                    true,
	"RemoveTagsFromStream":          true,
	"SplitShard":                    true,
	"StartStreamEncryption":         true,
	"StopStreamEncryption":          true,
	"UpdateShardCount":              true,
}

// parseStreamARN splits arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME
// (a consumer ARN, .../stream/NAME/consumer/..., names its stream too).
func parseStreamARN(arn string) (account, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesis" {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(parts[5], "stream/")
	if !ok {
		return "", "", false
	}
	name, _, _ = strings.Cut(rest, "/")
	if name == "" {
		return "", "", false
	}
	return parts[4], name, true
}

// reqFields are the request members the proxy looks at; everything else
// in the body is kept as sent.
type reqFields struct {
	StreamName    *string           `json:"StreamName"`
	StreamARN     *string           `json:"StreamARN"`
	NextToken     *string           `json:"NextToken"`
	ShardId       *string           `json:"ShardId"`
	ShardIterator *string           `json:"ShardIterator"`
	Records       []json.RawMessage `json:"Records"` // PutRecords

	// PutRecord's entry fields; PutRecords entries have the same.
	entryFields
}

// entryFields are one record's routing and size inputs. Data stays base64:
// only its decoded length is needed, and payload bytes are never decoded.
type entryFields struct {
	Data            *string `json:"Data"`
	PartitionKey    *string `json:"PartitionKey"`
	ExplicitHashKey *string `json:"ExplicitHashKey"`
}

// size is what a record counts against a shard's 1 MiB/s: data plus
// partition key (the explicit hash key is free).
func (e *entryFields) size() int {
	n := 0
	if e.PartitionKey != nil {
		n += len(*e.PartitionKey)
	}
	if e.Data != nil {
		n += base64Len(*e.Data)
	}
	return n
}

// base64Len is the decoded length of standard base64 s, without decoding.
func base64Len(s string) int {
	n := len(s)
	if n%4 != 0 { // unpadded
		return n * 3 / 4
	}
	pad := 0
	for i := n - 1; i >= 0 && i >= n-2 && s[i] == '='; i-- {
		pad++
	}
	return n/4*3 - pad
}

// body is a request or response body that stays byte-for-byte as received
// until a member is replaced.
type body struct {
	raw     []byte
	members map[string]json.RawMessage // decoded on first set
	dirty   bool
}

// set replaces (or adds) a top-level member.
func (b *body) set(name string, v json.RawMessage) error {
	if b.members == nil {
		if err := json.Unmarshal(b.raw, &b.members); err != nil {
			return err
		}
		if b.members == nil {
			b.members = make(map[string]json.RawMessage)
		}
	}
	b.members[name] = v
	b.dirty = true
	return nil
}

// bytes is the body to send: the original bytes unless a member changed.
func (b *body) bytes() []byte {
	if !b.dirty {
		return b.raw
	}
	out, err := json.Marshal(b.members)
	if err != nil { // cannot happen: every member was valid JSON
		return b.raw
	}
	b.raw, b.dirty = out, false
	return out
}

// hopHeaders are connection-level headers a proxy must not forward.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// copyHeaders copies h without hop-by-hop headers (nor those Connection
// names).
func copyHeaders(dst, src http.Header) {
	drop := map[string]bool{}
	for _, h := range hopHeaders {
		drop[h] = true
	}
	for _, v := range src.Values("Connection") {
		for _, f := range strings.Split(v, ",") {
			drop[http.CanonicalHeaderKey(strings.TrimSpace(f))] = true
		}
	}
	for k, vv := range src {
		if drop[k] {
			continue
		}
		dst[k] = append([]string(nil), vv...)
	}
}

// apiError is the awsJson1.1 error body.
type apiError struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

// fiveMinutes is an iterator's life on AWS.
const fiveMinutes = 5 * time.Minute

// awsTime formats t as AWS's (Java) messages do.
func awsTime(t time.Time) string { return t.UTC().Format("Mon Jan 02 15:04:05 MST 2006") }
