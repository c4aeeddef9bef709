package kinesistest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Errors are wrapped the way the SDK wraps them, so code under test sees
// the same chain as against AWS:
//
//	*smithy.OperationError → *awshttp.ResponseError (HTTP status) → typed error
//
// errors.As finds the typed error, and retry helpers that look for
// HTTPStatusCode() or ErrorCode() find those too.

// Codes a PutRecords entry can fail with, as AWS spells them.
const (
	codeThroughput = "ProvisionedThroughputExceededException"
	codeInternal   = "InternalFailure"
)

// apiError wraps err as the SDK returns a service error of op with status.
func apiError(op string, status int, err error) error {
	return &smithy.OperationError{
		ServiceID:     "Kinesis",
		OperationName: op,
		Err: &awshttp.ResponseError{
			RequestID: "kinesistest",
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
				Err:      err,
			},
		},
	}
}

// clientError wraps err as the SDK returns an error it raised before
// sending anything (parameter validation).
func clientError(op string, err error) error {
	return &smithy.OperationError{ServiceID: "Kinesis", OperationName: op, Err: err}
}

// missingParams is the SDK's client-side validation error for required
// parameters left nil.
func missingParams(op string, names ...string) error {
	ip := smithy.InvalidParamsError{Context: op + "Input"}
	for _, n := range names {
		ip.Add(smithy.NewErrParamRequired(n))
	}
	return clientError(op, ip)
}

func notFound(op, format string, args ...any) error {
	return apiError(op, 400, &types.ResourceNotFoundException{Message: msg(format, args...)})
}

func invalidArg(op, format string, args ...any) error {
	return apiError(op, 400, &types.InvalidArgumentException{Message: msg(format, args...)})
}

func validation(op, format string, args ...any) error {
	return apiError(op, 400, &types.ValidationException{Message: msg(format, args...)})
}

func throttled(op, format string, args ...any) error {
	return apiError(op, 400, &types.ProvisionedThroughputExceededException{Message: msg(format, args...)})
}

func internal(op string) error {
	return apiError(op, 500, &types.InternalFailureException{Message: msg("Internal service failure.")})
}

func expiredIterator(op, format string, args ...any) error {
	return apiError(op, 400, &types.ExpiredIteratorException{Message: msg(format, args...)})
}

func expiredNextToken(op, format string, args ...any) error {
	return apiError(op, 400, &types.ExpiredNextTokenException{Message: msg(format, args...)})
}

// canceled is what the SDK returns when ctx ends while a call is on the
// wire: errors.Is(err, context.DeadlineExceeded) or context.Canceled holds.
func canceled(op string, ctxErr error) error {
	return apiError(op, 0, &smithy.CanceledError{Err: ctxErr})
}

// timeout is what the SDK returns when the HTTP client gives up waiting for
// the response: a send error around net/http's timeout, which is a
// net.Error with Timeout() true and errors.Is(err, context.DeadlineExceeded).
func timeout(op string) error {
	return apiError(op, 0, &smithyhttp.RequestSendError{Err: &url.Error{
		Op:  "Post",
		URL: "https://kinesis.us-east-1.amazonaws.com/",
		Err: httpTimeout{},
	}})
}

// httpTimeout mirrors net/http's unexported timeoutError.
type httpTimeout struct{}

func (httpTimeout) Error() string {
	return "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
}
func (httpTimeout) Timeout() bool        { return true }
func (httpTimeout) Temporary() bool      { return true }
func (httpTimeout) Is(target error) bool { return target == context.DeadlineExceeded }

func msg(format string, args ...any) *string {
	s := fmt.Sprintf(format, args...)
	return &s
}
