package kinesisio

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go/middleware"
)

// ClientOptions configure a Kinesis client beyond the SDK's default chain.
type ClientOptions struct {
	// EndpointURL overrides the endpoint for this client only (e.g. a
	// second emulator). Empty: the SDK's chain decides (AWS_ENDPOINT_URL,
	// AWS_ENDPOINT_URL_KINESIS, config files, then AWS itself).
	EndpointURL string
	// MaxConns bounds connections per host; it should cover every
	// concurrent call (writers + readers).
	MaxConns int
	// OnCall, when set, is called once per API operation the client
	// starts, before it is sent (so a call that fails, or is denied, is
	// seen too; one the SDK rejects as invalid input is never sent and
	// not seen), from the calling goroutine: it must be safe for
	// concurrent use and quick. It records which AWS actions the code
	// really uses (the IAM policy test in deploy/). Nil adds nothing to
	// the client: no middleware, no cost per call.
	OnCall func(APICall)
	// SDKCodec uses the SDK's own JSON codec for GetRecords and PutRecords
	// too: slower, an escape hatch. False (the default): the fast codec
	// (codec.go), which yields the same results for a fraction of the CPU.
	SDKCodec bool
}

// APICall names one AWS API operation a client started.
type APICall struct {
	Service   string // SDK service ID: "Kinesis"
	Operation string // "PutRecords": the IAM action is "kinesis:PutRecords"
	// Stream is the stream the input names (StreamName, else the name in
	// StreamARN); "" when it names none, as GetRecords, which only carries
	// an iterator.
	Stream string
}

// NewClient builds a Kinesis client from the SDK's default configuration
// chain (credentials, AWS_REGION, AWS_ENDPOINT_URL, profiles), so the same
// binary runs against AWS, LocalStack and kinesalite. The SDK's own retries
// are off: repartd retries per call site, where it knows whether a retry
// can reorder or duplicate records.
func NewClient(ctx context.Context, o ClientOptions) (*kinesis.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: set AWS_REGION")
	}
	conns := max(o.MaxConns, 16)
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = conns * 2
		t.MaxIdleConnsPerHost = conns
		t.IdleConnTimeout = 90 * time.Second
	})
	return kinesis.NewFromConfig(cfg, func(k *kinesis.Options) {
		k.Retryer = aws.NopRetryer{}
		k.HTTPClient = httpClient
		if o.EndpointURL != "" {
			k.BaseEndpoint = aws.String(o.EndpointURL)
		}
		if !o.SDKCodec {
			withFastCodec(k)
		}
		if o.OnCall != nil {
			k.APIOptions = append(k.APIOptions, onCallMiddleware(o.OnCall))
		}
	}), nil
}

// onCallMiddleware reports each operation from the Initialize step, which
// runs once per operation (retries happen later, in Finalize). The SDK puts
// the service ID and operation name in the context before the stack runs.
func onCallMiddleware(hook func(APICall)) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("repartd.OnCall",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				hook(APICall{
					Service:   awsmiddleware.GetServiceID(ctx),
					Operation: awsmiddleware.GetOperationName(ctx),
					Stream:    inputStream(in.Parameters),
				})
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

// inputStream returns the stream an operation's input names. Reflection,
// not a type switch, so an operation added later is attributed too; it
// only runs when OnCall is set.
func inputStream(params any) string {
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return ""
	}
	field := func(name string) string {
		f := v.Elem().FieldByName(name)
		if !f.IsValid() || f.Type() != reflect.TypeFor[*string]() || f.IsNil() {
			return ""
		}
		return *f.Interface().(*string)
	}
	if name := field("StreamName"); name != "" {
		return name
	}
	arn := field("StreamARN") // arn:aws:kinesis:REGION:ACCOUNT:stream/NAME
	if i := strings.LastIndex(arn, ":stream/"); i >= 0 {
		return arn[i+len(":stream/"):]
	}
	return ""
}
