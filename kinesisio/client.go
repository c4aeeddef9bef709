package kinesisio

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
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
	}), nil
}
