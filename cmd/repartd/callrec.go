package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/repartd/repartd/kinesisio"
)

// recordCallsEnv names a file to which `repartd run` appends each distinct
// AWS operation it starts, one JSON line per (client, operation, stream):
// {"client":"source","service":"Kinesis","operation":"GetRecords","stream":""}.
// Not a flag and not for users: the IAM test in deploy/ compares what the
// real binary calls with deploy/iam/repartd-policy.json.
const recordCallsEnv = "REPARTD_RECORD_CALLS"

// callRecorder appends distinct calls to a file; nil records nothing.
type callRecorder struct {
	mu   sync.Mutex
	f    *os.File
	seen map[callLine]bool
}

type callLine struct {
	Client    string `json:"client"` // "source" or "destination": which of run's clients
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Stream    string `json:"stream"`
}

// openCallRecorder opens path for appending; "" returns nil.
func openCallRecorder(path string) (*callRecorder, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", recordCallsEnv, err)
	}
	return &callRecorder{f: f, seen: map[callLine]bool{}}, nil
}

// hook returns the OnCall hook of one client; nil when not recording.
// Each line is written at once (one append), so a SIGKILL loses nothing.
func (r *callRecorder) hook(client string) func(kinesisio.APICall) {
	if r == nil {
		return nil
	}
	return func(c kinesisio.APICall) {
		l := callLine{Client: client, Service: c.Service, Operation: c.Operation, Stream: c.Stream}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.seen[l] {
			return
		}
		r.seen[l] = true
		b, _ := json.Marshal(l) // cannot fail: four strings
		_, _ = r.f.Write(append(b, '\n'))
	}
}

func (r *callRecorder) Close() error {
	if r == nil {
		return nil
	}
	return r.f.Close()
}
