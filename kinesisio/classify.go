package kinesisio

import (
	"context"
	"errors"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// errClass is what a failed call means for the records it carried. Retry
// safety has one home: this function.
type errClass uint8

const (
	// classThrottled: the service refused the call; nothing was written.
	classThrottled errClass = iota + 1
	// classAmbiguous: the call may or may not have been applied (timeout,
	// connection reset, 5xx). Records stay at the head of their keys and
	// are sent again; a duplicate is possible, reordering is not.
	classAmbiguous
	// classFatal: configuration or permission problem; retrying cannot help.
	classFatal
	// classCanceled: our own context ended.
	classCanceled
)

func (c errClass) String() string {
	switch c {
	case classThrottled:
		return "throttled"
	case classAmbiguous:
		return "ambiguous"
	case classFatal:
		return "fatal"
	case classCanceled:
		return "canceled"
	}
	return "unknown"
}

var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"LimitExceededException":                 true,
	"KMSThrottlingException":                 true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"RequestLimitExceeded":                   true,
	"SlowDown":                               true,
}

var fatalCodes = map[string]bool{
	"ResourceNotFoundException":   true,
	"InvalidArgumentException":    true,
	"ValidationException":         true,
	"AccessDeniedException":       true,
	"AccessDenied":                true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"IncompleteSignature":         true,
	"KMSDisabledException":        true,
	"KMSInvalidStateException":    true,
	"KMSAccessDeniedException":    true,
	"KMSNotFoundException":        true,
	"KMSOptInRequired":            true,
	"UnknownOperationException":   true,
}

// classify says what err means for the records of the call. parent is the
// caller's long-lived context: if it ended, the error is ours, not AWS's.
func classify(parent context.Context, err error) errClass {
	if parent.Err() != nil {
		return classCanceled
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case throttleCodes[code]:
			return classThrottled
		case fatalCodes[code]:
			return classFatal
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 429 {
		return classThrottled
	}
	// Timeouts, resets, 5xx, unknown codes: the call may have landed.
	return classAmbiguous
}
