package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repartd/repartd/kinesisio/kinesistest"
)

// The streams of the recorded run, and which policy resource each is.
const (
	srcStream = "dms-cdc"
	dstStream = "dms-cdc-wide"
	dlqStream = "dms-cdc-dlq"
	badRecs   = 5 // load --bad-records: 4 invalid (dead-lettered) and one unknown operation
)

// relayRun is one real `repartd run` against kinesalite with every
// resource a policy names in use (source, destination, dead-letter stream),
// run twice so the restart-from-checkpoint path is in it too.
type relayRun struct {
	calls []callLine // distinct AWS operations it started
	logs  []map[string]any
	err   string
}

type callLine struct {
	Client    string `json:"client"`
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Stream    string `json:"stream"`
}

var (
	relayOnce   sync.Once
	relayResult = relayRun{err: "the relay run did not finish"}
)

// recordedRelay runs the relay once per test binary; tests share it.
func recordedRelay(t *testing.T) relayRun {
	t.Helper()
	needBinary(t)
	relayOnce.Do(func() { relayResult = runRecordedRelay(t) })
	if relayResult.err != "" {
		t.Fatal(relayResult.err)
	}
	return relayResult
}

// emulatorEnv is an environment pointing the SDK at an emulator, with no
// AWS profile or credentials of the machine in the way.
func emulatorEnv(url string) []string {
	return append(os.Environ(), "AWS_ENDPOINT_URL="+url, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null")
}

func repartd(env []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("repartd %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.Bytes(), nil
}

func runRecordedRelay(t *testing.T) relayRun {
	emu := kinesistest.StartKinesalite(t)
	dir := t.TempDir()
	env := emulatorEnv(emu.URL)
	callsFile := filepath.Join(dir, "calls.jsonl")
	fail := func(err error) relayRun { return relayRun{err: err.Error()} }
	for _, s := range []struct {
		name   string
		shards string
	}{{srcStream, "1"}, {dstStream, "4"}, {dlqStream, "1"}} {
		if _, err := repartd(env, "streams", "create", "--stream", s.name, "--shards", s.shards); err != nil {
			return fail(err)
		}
	}
	var logs bytes.Buffer
	for i, load := range []string{"3000", "1000"} {
		if _, err := repartd(env, "load", "--stream", srcStream, "--records", load, "--rows", "300",
			"--tables", "2", "--bad-records", fmt.Sprint(badRecs), "--seed", fmt.Sprint(i+1)); err != nil {
			return fail(err)
		}
		out, err := repartd(append(env, "REPARTD_RECORD_CALLS="+callsFile), "run",
			"--source", srcStream, "--dest", dstStream, "--dlq-stream", dlqStream, "--on-invalid", "dlq",
			"--checkpoint", filepath.Join(dir, "checkpoint"), "--metrics-addr", "127.0.0.1:0",
			"--log-interval", "200ms", "--stop-when-idle", "1s")
		logs.Write(out)
		if err != nil {
			return fail(err)
		}
	}
	r := relayRun{}
	sc := bufio.NewScanner(&logs)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			r.logs = append(r.logs, m)
		}
	}
	b, err := os.ReadFile(callsFile)
	if err != nil {
		return fail(fmt.Errorf("REPARTD_RECORD_CALLS wrote nothing: %v", err))
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var c callLine
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return fail(fmt.Errorf("calls file line %q: %v", line, err))
		}
		r.calls = append(r.calls, c)
	}
	// Dead-lettering happened, so its calls are in the record.
	var dead float64
	for _, m := range r.logs {
		if m["message"] == "lag_summary" {
			dead = max(dead, m["total_dead_lettered"].(float64))
		}
	}
	if dead == 0 {
		return fail(fmt.Errorf("no record reached the dead-letter stream (total_dead_lettered 0): the DLQ calls were not exercised"))
	}
	return r
}
