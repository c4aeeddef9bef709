package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repartd/repartd/kinesisio/kinesistest/faultproxy"
)

// syncBuffer is a bytes.Buffer safe to write from run's goroutine while
// the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var started = regexp.MustCompile(`faultproxy listening on (127\.0\.0\.1:\d+) seed 9\n`)

func TestRun_ServesAdminAndPrintsStatsOnExit(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer up.Close()
	env := map[string]string{"FAULTPROXY_UPSTREAM": up.URL, "FAULTPROXY_THROTTLE_RATE": "1"}
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--seed", "9", "--stream", "hot"},
			func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no start line; stdout %q stderr %q", stdout.String(), stderr.String())
		}
		if m := started.FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(`{"StreamName":"hot","Records":[{"PartitionKey":"k","Data":"dg=="}]}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "ProvisionedThroughputExceededException") {
		t.Errorf("throttled call: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	var st faultproxy.Stats
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st); err != nil {
		t.Fatalf("stats JSON: %v in %q", err, out)
	}
	if st.Seed != 9 || st.Op("PutRecords").Throttled != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRun_RefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--upstream", "http://127.0.0.1:1", "--listen", "0.0.0.0:0"}, "loopback"},
		{[]string{"--put-fail-rate", "2", "--throttle-rate", "-1"}, "upstream: required"},
		{[]string{"--upstream", "http://127.0.0.1:1", "--put-fail-rate", "2", "--throttle-rate", "-1"}, "throttle_rate -1"},
	} {
		err := run(t.Context(), tc.args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}
