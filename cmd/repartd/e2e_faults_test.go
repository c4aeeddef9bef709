package main

// End-to-end tests of the guarantees under faults: the real binary (built
// with -race by TestMain), a real emulator process, real HTTP, and where
// faults are wanted the faultproxy in front of the emulator. Each test is
// seeded from the clock, logs its seed, and on failure prints the proxy's
// stats and the tail of every repartd log line it saw.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/repartd/repartd/bench/loadgen"
	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
	"github.com/repartd/repartd/kinesisio/kinesistest/faultproxy"
)

// proc is one repartd process running in the background.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	out   syncBuffer    // its own output (also copied to env.logs)
	done  chan struct{} // closed once the process is reaped
	ended time.Time     // when it was reaped; set before done closes
}

// spawn starts the binary with e.vars plus extraEnv (later entries win).
// Its output goes to e.logs and to the proc's own buffer. The test's
// cleanup kills it if it still runs.
func (e *env) spawn(name string, extraEnv []string, args ...string) *proc {
	e.t.Helper()
	p := &proc{t: e.t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(append([]string(nil), e.vars...), extraEnv...)
	w := multiWriter{&e.logs, &p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	go func() { // ends when the process does
		_ = p.cmd.Wait() // the exit code is in p.cmd.ProcessState
		p.ended = time.Now()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// multiWriter copies a process's output to several buffers.
type multiWriter []*syncBuffer

func (m multiWriter) Write(b []byte) (int, error) {
	for _, w := range m {
		_, _ = w.Write(b)
	}
	return len(b), nil
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// wait waits up to d for the process to exit and returns its exit code;
// it fails the test if it does not.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		before := p.out.String()
		_ = p.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump into the full logs
		time.Sleep(500 * time.Millisecond)
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s still running after %s\n%s", p.name, d, tail(before, 30))
	}
	return p.cmd.ProcessState.ExitCode()
}

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && p.running() {
		p.t.Fatal(err)
	}
	<-p.done
}

// runArgs is `run` of e.src to e.dst with e's checkpoint and extra flags.
func (e *env) runArgs(extra ...string) []string {
	return append([]string{"run", "--source", e.src, "--dest", e.dst, "--checkpoint", e.ckptDir,
		"--log-interval", "1s"}, extra...)
}

// adminClient is what the tests do to streams directly: read, split,
// merge.
type adminClient interface {
	kinesisio.Source
	kinesisio.Resharder
}

// localAWSEnv gives the test process the AWS environment the binary gets,
// so the SDK's default chain finds no real credentials, profiles or
// instance metadata. It is process-wide (t.Setenv would forbid parallel
// tests) and the same for every test; endpoints are set per client.
var localAWSEnv = sync.OnceFunc(func() {
	for _, kv := range []string{"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_SESSION_TOKEN=", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null"} {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
})

// client returns a Kinesis client of the emulator for the test itself
// (never through the proxy).
func (e *env) client() adminClient {
	e.t.Helper()
	localAWSEnv()
	c, err := kinesisio.NewClient(context.Background(), kinesisio.ClientOptions{EndpointURL: e.emu.URL})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// readStream reads every record of stream, parents before children.
func readStream(t *testing.T, c kinesisio.Source, stream string) []kinesisio.ShardRecords {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []kinesisio.ShardRecords
	if err := kinesisio.ReadAll(ctx, c, stream, func(s kinesisio.ShardRecords) error {
		out = append(out, s)
		return nil
	}); err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return out
}

// lagSummary is the part of a lag_summary line the tests look at.
type lagSummary struct {
	Message          string `json:"message"`
	Time             string `json:"time"`
	BufferedRecords  int64  `json:"buffered_records"`
	BufferedBytes    int64  `json:"buffered_bytes"`
	TotalRecordsIn   int64  `json:"total_records_in"`
	TotalRecordsOut  int64  `json:"total_records_out"`
	TotalRetries     int64  `json:"total_retries"`
	TotalThrottles   int64  `json:"total_throttles"`
	TotalResends     int64  `json:"total_resends"`
	TotalInvalid     int64  `json:"total_invalid"`
	TotalDeadLetters int64  `json:"total_dead_lettered"`
	DestShards       int    `json:"dest_shards"`
}

// logLines returns the JSON log lines of out whose message is msg.
func logLines[T any](out, msg string) []T {
	var res []T
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"message":"`+msg+`"`) {
			continue
		}
		var v T
		if json.Unmarshal(line, &v) == nil {
			res = append(res, v)
		}
	}
	return res
}

// lastSummary is the last lag_summary line of out (zero if none).
func lastSummary(out string) lagSummary {
	s := logLines[lagSummary](out, "lag_summary")
	if len(s) == 0 {
		return lagSummary{}
	}
	return s[len(s)-1]
}

// seeded returns the test's seed (REPARTD_E2E_SEED repeats a run) and logs
// it.
func seeded(t *testing.T) (uint64, *rand.Rand) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REPARTD_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REPARTD_E2E_SEED %q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (REPARTD_E2E_SEED=%d repeats it)", seed, seed)
	return seed, rand.New(rand.NewPCG(seed, 0xe2e))
}

// onFailure prints, if the test failed, its seed, what the proxy (if any)
// did and the last log lines. With REPARTD_E2E_LOGDIR set it also keeps
// every log line of the test in a file there, failed or not.
func (e *env) onFailure(seed uint64, proxyStats func() string) {
	e.t.Cleanup(func() {
		if dir := os.Getenv("REPARTD_E2E_LOGDIR"); dir != "" { // keep every line for a post-mortem
			f := filepath.Join(dir, strings.NewReplacer("/", "_").Replace(e.t.Name())+".log")
			if err := os.WriteFile(f, []byte(e.logs.String()), 0o644); err == nil {
				e.t.Logf("all repartd log lines: %s", f)
			}
		}
		if !e.t.Failed() {
			return
		}
		e.t.Logf("seed %d", seed)
		if proxyStats != nil {
			e.t.Logf("faultproxy stats: %s", proxyStats())
		}
		e.t.Logf("last repartd log lines:\n%s", tail(e.logs.String(), 80))
	})
}

func statsJSON(p *faultproxy.Proxy) string {
	b, _ := json.Marshal(p.Stats())
	return string(b)
}

// TestE2E_OrderUnderHTTPFaults runs the binary against kinesalite through
// the fault proxy. On the destination: 30% of PutRecords entries fail, 5%
// of calls are throttled whole, 3% are ambiguous (written, then the answer
// is lost: half of the time it comes after --put-timeout, half of the time
// the connection is reset), and AWS's per-shard limits are enforced. The
// load is Zipf-skewed (s = 1.2: the hottest row takes about a fifth of the
// changes). Each key's first deliveries (strict) or last deliveries
// (replay) must follow source order, and nothing may go missing.
//
// Sizes: a hot key moves one record per round trip (strict), or the
// records ahead of its first failed one (replay: about 2.3 at a 30% entry
// failure rate), and every ambiguous timeout holds it for --put-timeout.
// On a 2-core machine running kinesalite, the proxy and a -race binary,
// 4,000 records keep each mode under 45 s; small batches and 4 calls in
// flight keep a call's own time (about 50 ms) far below the 1 s timeout,
// so only injected faults time out. (With 8 calls of 500 records in
// flight a call through the proxy takes up to 6 s here: every call then
// times out and is re-sent whole, and the relay makes no progress.)
func TestE2E_OrderUnderHTTPFaults(t *testing.T) {
	for _, tc := range []struct {
		ordering, order string
		records, rows   int
		batch           string
	}{
		{"strict", "first", 4000, 2000, "100"},
		// A replay round re-sends the rest of a key's records after its
		// first failed one, and the re-sends spend the shard's pace:
		// small batches keep a round cheap.
		{"replay", "last", 4000, 2000, "10"},
	} {
		t.Run(tc.ordering, func(t *testing.T) {
			start := time.Now()
			seed, _ := seeded(t)
			e := newEnv(t, 16)
			proxy := faultproxy.Start(t, e.emu.URL, faultproxy.Options{Seed: seed})
			e.onFailure(seed, func() string { return statsJSON(proxy) })
			faults := faultproxy.Faults{PutFailRate: 0.30, ThrottleRate: 0.05, AmbiguousRate: 0.03, Limits: true}
			ambiguousTimeouts := func(on bool) {
				f := faults
				if on {
					f.AmbiguousDelay = 1500 * time.Millisecond // past --put-timeout: written, then a timeout
				} // else reset after the write
				if err := proxy.SetFaults(e.dst, f); err != nil {
					t.Fatal(err)
				}
			}
			ambiguousTimeouts(true)
			e.repartd(nil, "load", "--stream", e.src, "--records", fmt.Sprint(tc.records), "--rows", fmt.Sprint(tc.rows),
				"--tables", "4", "--zipf", "1.2", "--seed", fmt.Sprint(seed))
			t.Logf("loaded %d records in %s", tc.records, time.Since(start).Round(time.Millisecond))
			run := e.spawn("run", []string{"AWS_ENDPOINT_URL=" + proxy.URL()}, e.runArgs(
				"--ordering", tc.ordering, "--put-timeout", "1s", "--retry-base", "5ms", "--retry-max", "500ms",
				"--batch-records", tc.batch, "--max-in-flight", "4", "--stop-when-idle", "1s")...)
			// Switch the ambiguous flavour every 2 s while the relay runs.
			for on := false; run.running(); on = !on {
				select {
				case <-run.done:
				case <-time.After(2 * time.Second):
					ambiguousTimeouts(on)
				}
				if time.Since(start) > 80*time.Second {
					break
				}
			}
			if code := run.wait(time.Second); code != 0 {
				t.Fatalf("run exited %d\n%s", code, tail(run.out.String(), 40))
			}
			sum := lastSummary(run.out.String())
			t.Logf("relay done after %s: %+v", time.Since(start).Round(time.Millisecond), sum)
			t.Logf("faultproxy stats: %s", statsJSON(proxy))
			r := e.verify("--order", tc.order)
			t.Logf("verify: source %d, dest %d, missing %d, duplicates %d, order_violations %d, last_order_violations %d, unexpected %d, misrouted %d, keys %d",
				r.SourceRecords, r.DestRecords, r.Missing, r.Duplicates, r.OrderViolations, r.LastOrderViolations, r.Unexpected, r.Misrouted, r.Keys)
			if !r.OK || r.Missing != 0 || r.Unexpected != 0 || r.Misrouted != 0 || r.SourceRecords != tc.records {
				t.Errorf("verify --order %s: %+v", tc.order, r)
			}
			if tc.ordering == "strict" && r.OrderViolations != 0 {
				t.Errorf("strict: %d first-occurrence order violations", r.OrderViolations)
			}
			if tc.ordering == "replay" && r.LastOrderViolations != 0 {
				t.Errorf("replay: %d last-occurrence order violations", r.LastOrderViolations)
			}
			st := proxy.Stats().Op(faultproxy.OpPutRecords)
			if st.Throttled == 0 || st.Ambiguous == 0 || st.EntriesFailed[faultproxy.CodeThroughput]+st.EntriesFailed[faultproxy.CodeInternal] == 0 {
				t.Errorf("faults not all injected: %+v", st)
			}
			e.noPayloadInLogs()
			t.Logf("took %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// findLine returns the index and text of the first line of out holding
// every one of parts, or -1.
func findLine(out string, parts ...string) (int, string) {
next:
	for i, line := range strings.Split(out, "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return i, line
	}
	return -1, ""
}

func lineIndex(out string, parts ...string) int {
	i, _ := findLine(out, parts...)
	return i
}

// waitLog waits up to d for out to hold a line with every one of parts
// and returns it; it fails the test if none comes.
func waitLog(t *testing.T, out *syncBuffer, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if i, line := findLine(out.String(), parts...); i >= 0 {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q after %s", parts, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkParentsFirst fails the test if a process started reading a child
// shard before it had read every parent to its end. A parent finished in
// an earlier process (its checkpoint says ended) is not read again.
func checkParentsFirst(t *testing.T, out string, parents map[string][]string) {
	t.Helper()
	for child, ps := range parents {
		start := lineIndex(out, `"message":"reading shard"`, `"shard_id":"`+child+`"`)
		if start < 0 {
			continue
		}
		for _, p := range ps {
			end := lineIndex(out, `"message":"shard read to its end"`, `"shard_id":"`+p+`"`)
			pstart := lineIndex(out, `"message":"reading shard"`, `"shard_id":"`+p+`"`)
			if pstart >= 0 && (end < 0 || end > start) {
				t.Errorf("child %s read (line %d) before its parent %s was read to its end (line %d)", child, start, p, end)
			}
		}
	}
}

// TestE2E_DestinationReshard splits a destination shard under a running
// relay: the relay must notice the new shard map, and verify (which orders
// a key's records by destination shard lineage) must find every record,
// in order.
func TestE2E_DestinationReshard(t *testing.T) {
	t.Parallel()
	start := time.Now()
	seed, rng := seeded(t)
	e := newEnv(t, 4)
	e.onFailure(seed, nil)
	c := e.client()
	const records = 20000
	load := e.spawn("load", nil, "load", "--stream", e.src, "--records", fmt.Sprint(records), "--rows", "3000",
		"--tables", "4", "--rate", "2000", "--seed", fmt.Sprint(seed))
	run := e.spawn("run", nil, e.runArgs("--shard-refresh", "1s", "--stop-when-idle", "2s")...)
	time.Sleep(time.Duration(3000+rng.IntN(3000)) * time.Millisecond)
	parent := fmt.Sprintf("shardId-%012d", rng.IntN(4))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lo, hi, err := kinesisio.SplitShard(ctx, c, e.dst, parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("split destination %s into %s and %s after %s", parent, lo, hi, time.Since(start).Round(time.Millisecond))
	line := waitLog(t, &run.out, 10*time.Second, `"message":"destination shard map changed"`)
	t.Logf("relay: %s", line)
	if code := load.wait(60 * time.Second); code != 0 {
		t.Fatalf("load exited %d", code)
	}
	if code := run.wait(30 * time.Second); code != 0 {
		t.Fatalf("run exited %d", code)
	}
	if !strings.Contains(line, `"open_shards":5`) {
		t.Errorf("shard map change %s: want 5 open shards", line)
	}
	r := e.verify()
	t.Logf("verify: %+v", r)
	if !r.OK || r.Missing != 0 || r.OrderViolations != 0 || r.Unexpected != 0 || r.Misrouted != 0 || r.SourceRecords != records {
		t.Fatalf("verify after a destination split: %+v", r)
	}
	if r.DestShardRecords[lo] == 0 || r.DestShardRecords[hi] == 0 || r.DestShardRecords[parent] == 0 {
		t.Errorf("records per shard %v: want some in %s and in both children", r.DestShardRecords, parent)
	}
	e.noPayloadInLogs()
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// TestE2E_SourceReshardWhileLoading reshards the source under the relay
// while DMS-like load goes on: a split, a kill -9 and restart soon after
// it (the closed parent must still be read to its end, from the
// checkpoint, before its children), then a merge of the two children. The
// kinesis-local variant (LocalStack's engine, which returns ChildShards
// and is about ten times slower) splits only: a split then a merge makes
// its stream vanish.
func TestE2E_SourceReshardWhileLoading(t *testing.T) {
	t.Run("kinesalite", func(t *testing.T) {
		sourceReshard(t, newEnv(t, 8), 8, 15000, 1500, true)
	})
	t.Run("kinesis-local", func(t *testing.T) {
		sourceReshard(t, newEnvOn(t, kinesistest.StartKinesisLocal(t), 4), 4, 2000, 200, false)
	})
}

// sourceReshard loads records at rate while the relay runs. The relay
// paces its destination to half the load's rate, so it lags behind the
// source by seconds and the parent shard is still being read when it is
// closed and when the relay is killed.
func sourceReshard(t *testing.T, e *env, dstShards, records, rate int, merge bool) {
	start := time.Now()
	seed, rng := seeded(t)
	e.onFailure(seed, nil)
	c := e.client()
	loadFor := time.Duration(records/rate) * time.Second
	load := e.spawn("load", nil, "load", "--stream", e.src, "--records", fmt.Sprint(records), "--rows", "2000",
		"--tables", "4", "--rate", fmt.Sprint(rate), "--seed", fmt.Sprint(seed))
	runArgs := e.runArgs("--shard-refresh", "1s", "--stop-when-idle", "3s",
		"--shard-records-per-s", fmt.Sprint(rate/2/dstShards))
	run := e.spawn("run", nil, runArgs...)
	var outs []string // every run's output, in order
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Split in the middle of the load, the merge later.
	time.Sleep(loadFor*2/5 + time.Duration(rng.IntN(int(loadFor/10/time.Millisecond)))*time.Millisecond)
	lo, hi, err := kinesisio.SplitShard(ctx, c, e.src, "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	parents := map[string][]string{lo: {"shardId-000000000000"}, hi: {"shardId-000000000000"}}
	t.Logf("split the source into %s and %s after %s", lo, hi, time.Since(start).Round(time.Millisecond))

	// kill -9 soon after the split, most likely before the parent is read
	// to its end and acknowledged, then restart from the checkpoint.
	time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
	run.kill9()
	cp := e.checkpoint()
	t.Logf("kill -9 after %s; checkpoint %+v", time.Since(start).Round(time.Millisecond), cp.Shards)
	outs = append(outs, run.out.String())
	run = e.spawn("run", nil, runArgs...)

	if merge {
		time.Sleep(loadFor / 4)
		child, err := kinesisio.MergeShards(ctx, c, e.src, lo, hi)
		if err != nil {
			t.Fatal(err)
		}
		parents[child] = []string{lo, hi}
		t.Logf("merged %s and %s into %s after %s", lo, hi, child, time.Since(start).Round(time.Millisecond))
	}
	if code := load.wait(loadFor + 45*time.Second); code != 0 {
		t.Fatalf("load exited %d", code)
	}
	t.Logf("load done after %s", time.Since(start).Round(time.Millisecond))
	if code := run.wait(60 * time.Second); code != 0 {
		t.Fatalf("run exited %d", code)
	}
	outs = append(outs, run.out.String())
	t.Logf("relay done after %s: %+v", time.Since(start).Round(time.Millisecond), lastSummary(run.out.String()))
	for i, out := range outs {
		t.Run(fmt.Sprintf("run%d", i+1), func(t *testing.T) { checkParentsFirst(t, out, parents) })
	}
	if cp.Shards["shardId-000000000000"].Ended {
		t.Errorf("the relay had finished the parent when it was killed (checkpoint %+v): the test did not exercise a restart on a closed, unfinished parent", cp.Shards)
	}
	if n := lineIndex(outs[1], `"message":"shard read to its end"`, `"shard_id":"shardId-000000000000"`); n < 0 && !cp.Shards["shardId-000000000000"].Ended {
		t.Errorf("the restarted relay did not read the parent to its end, which its checkpoint %+v had not finished", cp.Shards)
	}
	r := e.verify()
	t.Logf("verify: %+v", r)
	if !r.OK || r.Missing != 0 || r.OrderViolations != 0 || r.Unexpected != 0 || r.Misrouted != 0 || r.SourceRecords != records {
		t.Fatalf("verify after resharding the source: %+v", r)
	}
	e.noPayloadInLogs()
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// rssKiB reads VmRSS of pid from /proc, in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// proxyBinary builds cmd/kinesis-faultproxy once, without -race: in
// the race-instrumented test process the proxy would be the slowest part
// of a test that moves 40,000 records through it.
var proxyBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "repartd-e2e-proxy")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kinesis-faultproxy")
	out, err := exec.Command("go", "build", "-o", bin, "../kinesis-faultproxy").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build kinesis-faultproxy: %v\n%s", err, out)
	}
	return bin, nil
})

// proxyProc is a kinesis-faultproxy process, driven over its admin
// endpoint (/_faults, /_stats).
type proxyProc struct {
	t   *testing.T
	url string
}

var proxyListening = regexp.MustCompile(`^faultproxy listening on (127\.0\.0\.1:\d+) seed \d+$`)

// startProxyProcess starts a kinesis-faultproxy in front of upstream on a
// free loopback port for the rest of the test.
func startProxyProcess(t *testing.T, upstream string, seed uint64) *proxyProc {
	t.Helper()
	bin, err := proxyBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--upstream", upstream, "--seed", fmt.Sprint(seed))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() { // ends when the proxy closes stdout (exits)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := proxyListening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return &proxyProc{t: t, url: "http://" + a}
	case <-time.After(15 * time.Second):
		t.Fatalf("kinesis-faultproxy did not start within 15s: %s", stderr.String())
	}
	return nil
}

// setFaults replaces stream's faults.
func (p *proxyProc) setFaults(stream string, f faultproxy.Faults) {
	p.t.Helper()
	body, err := json.Marshal(map[string]any{"stream": stream, "faults": f})
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := http.Post(p.url+"/_faults", "application/json", bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		p.t.Fatalf("POST /_faults %s: %s %s", body, resp.Status, b)
	}
}

// stats reads the proxy's counters.
func (p *proxyProc) stats() faultproxy.Stats {
	p.t.Helper()
	var st faultproxy.Stats
	if err := json.Unmarshal([]byte(p.statsJSON()), &st); err != nil {
		p.t.Fatalf("GET /_stats: %v", err)
	}
	return st
}

// statsJSON is GET /_stats, or why it failed.
func (p *proxyProc) statsJSON() string {
	resp, err := http.Get(p.url + "/_stats")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// TestE2E_StalledDestinationBoundedMemory stalls the destination for 60 s
// (every PutRecords throttled, through the fault proxy) with 40,000
// records waiting in the source: the relay must keep what it buffers
// within --max-buffered-records and --max-buffered-bytes (plus at most one
// GetRecords reply), its RSS must stay flat, and once the stall lifts it
// must deliver everything.
//
// It is the one long test (about 90 s, most of it waiting, so it runs in
// parallel with the other parallel E2E tests): -short skips it. `make test`
// runs without -short, so CI always runs it.
func TestE2E_StalledDestinationBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("long test (60 s stall): runs without -short, as make test does")
	}
	t.Parallel() // mostly waiting: other tests run meanwhile
	start := time.Now()
	seed, _ := seeded(t)
	e := newEnv(t, 8)
	proxy := startProxyProcess(t, e.emu.URL, seed)
	e.onFailure(seed, proxy.statsJSON)
	const (
		records    = 40000
		maxRecords = 5000
		maxBytes   = 8 << 20
		stall      = 60 * time.Second
	)
	// The byte bound may be passed by one GetRecords reply: at most
	// maxRecords records (the reader asks for no more than is free).
	gen, err := loadgen.New(loadCfg(seed, 5000, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	biggest := 0
	for range records {
		biggest = max(biggest, len(gen.Next().Data))
	}
	byteBound := int64(maxBytes + maxRecords*biggest)
	proxy.setFaults(e.dst, faultproxy.Faults{ThrottleRate: 1, Ops: []string{faultproxy.OpPutRecords}})

	// The relay starts with the load, to keep the test short: the 40,000
	// records are all in the source within a few seconds, long before the
	// RSS baseline at second 10, while the relay holds its 5,000.
	load := e.spawn("load", nil, "load", "--stream", e.src, "--records", fmt.Sprint(records), "--rows", "5000",
		"--tables", "4", "--seed", fmt.Sprint(seed))
	run := e.spawn("run", []string{"AWS_ENDPOINT_URL=" + proxy.url}, e.runArgs(
		"--source-endpoint-url", e.emu.URL, // only the destination goes through the proxy
		"--max-buffered-records", fmt.Sprint(maxRecords), "--max-buffered-bytes", fmt.Sprint(maxBytes),
		"--retry-max", "1s", "--stop-when-idle", "1s")...)
	began := time.Now()
	t.Logf("destination stalled, relay and load started after %s", began.Sub(start).Round(time.Millisecond))
	var rss []int64 // one sample a second, from second 1
	for time.Since(began) < stall {
		if !load.running() && load.cmd.ProcessState.ExitCode() != 0 {
			t.Fatalf("load exited %d", load.cmd.ProcessState.ExitCode())
		}
		time.Sleep(time.Until(began.Add(time.Duration(len(rss)+1) * time.Second)))
		if !run.running() {
			t.Fatalf("run exited during the stall\n%s", tail(run.out.String(), 30))
		}
		kib, err := rssKiB(run.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		rss = append(rss, kib)
	}
	if load.running() {
		t.Fatalf("load still running after %s", time.Since(began))
	}
	t.Logf("all %d records (largest %d bytes) were in the source %s after the relay started",
		records, biggest, load.ended.Sub(began).Round(time.Millisecond))
	proxy.setFaults(e.dst, faultproxy.Faults{})
	stalled := proxy.stats().Op(faultproxy.OpPutRecords)
	sums := logLines[lagSummary](run.out.String(), "lag_summary")
	t.Logf("stall lifted after %s: %d PutRecords calls throttled, %d lag_summary lines, RSS (MiB) by second: %v",
		time.Since(began).Round(time.Millisecond), stalled.Throttled, len(sums), mib(rss))
	if stalled.Forwarded != 0 || stalled.Throttled == 0 {
		t.Errorf("the stall let writes through: %+v", stalled)
	}
	if len(sums) < int(stall/time.Second)/2 {
		t.Errorf("%d lag_summary lines in %s at --log-interval 1s", len(sums), stall)
	}
	var peakRec, peakBytes int64
	for _, s := range sums {
		peakRec, peakBytes = max(peakRec, s.BufferedRecords), max(peakBytes, s.BufferedBytes)
		if s.TotalRecordsOut != 0 {
			t.Errorf("%s: %d records out during the stall", s.Time, s.TotalRecordsOut)
		}
	}
	t.Logf("peak buffered during the stall: %d records, %d bytes", peakRec, peakBytes)
	if peakRec == 0 {
		t.Errorf("nothing buffered during the stall: did the relay read at all?")
	}
	base := rss[9] // second 10: reading stopped long ago, steady state
	for i := 10; i < len(rss); i++ {
		if rss[i] > base*125/100 {
			t.Errorf("RSS grew from %d KiB at second 10 to %d KiB at second %d (more than 25%%)", base, rss[i], i+1)
			break
		}
	}

	if code := run.wait(60 * time.Second); code != 0 {
		t.Fatalf("run exited %d after the stall", code)
	}
	t.Logf("delivered after %s: %+v", time.Since(began).Round(time.Millisecond), lastSummary(run.out.String()))
	for _, s := range logLines[lagSummary](run.out.String(), "lag_summary") { // during the stall and after
		if s.BufferedRecords > maxRecords || s.BufferedBytes > byteBound {
			t.Errorf("%s: buffered %d records, %d bytes; bounds %d records, %d bytes (%d + one reply)",
				s.Time, s.BufferedRecords, s.BufferedBytes, maxRecords, byteBound, maxBytes)
		}
	}
	r := e.verify()
	t.Logf("verify: %+v", r)
	if !r.OK || r.Missing != 0 || r.SourceRecords != records {
		t.Fatalf("verify after the stall: %+v", r)
	}
	e.noPayloadInLogs()
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

func mib(kib []int64) []string {
	out := make([]string, len(kib))
	for i, k := range kib {
		out[i] = strconv.FormatFloat(float64(k)/1024, 'f', 1, 64)
	}
	return out
}

// loadCfg is the loadgen configuration `repartd load` uses for these
// flags (with the default tables, schema and partition key), so a test can
// regenerate exactly what was loaded.
func loadCfg(seed uint64, rows, records, bad int) loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.Seed, cfg.Rows, cfg.Records, cfg.BadRecords = seed, rows, records, bad
	cfg.OversizeBytes = loadgen.MaxRecordBytes - len("LOADTASK")
	return cfg
}

// logVocabulary are the words of DMS records that repartd logs by design
// (schema, table, key column, operation and record-type names, metadata
// member names) or that name the load itself: an 8-byte piece of a payload
// made only of these, JSON punctuation, JSON literals and numbers (and one
// or two letters cut at its edges) is not a leak.
// Numbers and timestamps are allowed because logs carry sequence numbers
// and times, whose digits match payload digits by chance.
var logVocabulary = []string{
	"data", "metadata", "control", "record-type", "operation", "partition-key-type", "partition-key-value",
	"schema-name", "table-name", "transaction-id", "transaction-record-id", "commit-timestamp",
	"stream-position", "timestamp", "table-def", "columns", "primary-key", "collation-name",
	"insert", "update", "delete", "create-table", "upsert", "heartbeat", "task-id", "schema-table",
	"LOADTASK", "shop", "orders", "customers", "payments", "shipments", "id", "repartd",
	"status", "version", // column names of the table-def that are also log field names
	"true", "false", "null", // JSON literals
}

// whitelisted says whether an 8-byte window is made of JSON punctuation,
// numbers and logVocabulary words (cut at the window's edges).
func whitelisted(w []byte) bool {
	punct := func(r rune) bool { return strings.ContainsRune(`{}[]":, `, r) }
	numeric := func(p string) bool { return strings.Trim(p, "0123456789.-+TZ") == "" }
	pieces := strings.FieldsFunc(string(w), punct)
	// A piece touching an edge of the window may be part of a longer word.
	cutStart, cutEnd := !punct(rune(w[0])), !punct(rune(w[len(w)-1]))
	for i, p := range pieces {
		first, last := i == 0 && cutStart, i == len(pieces)-1 && cutEnd
		switch {
		case numeric(p):
		case len(p) <= 2 && (first || last): // one or two letters cut at an edge identify nothing
		case !slices.ContainsFunc(logVocabulary, func(v string) bool {
			switch {
			case first && last:
				return strings.Contains(v, p)
			case first:
				return strings.HasSuffix(v, p)
			case last:
				return strings.HasPrefix(v, p)
			}
			return v == p
		}):
			return false
		}
	}
	return true
}

// payloadLeaks returns the 8-byte windows of payloads that also occur in
// logs and are not whitelisted, each with a log line holding it (at most
// limit of them).
func payloadLeaks(logs string, payloads [][]byte, limit int) []string {
	const n = 8
	word := func(b []byte) uint64 {
		var v uint64
		for _, c := range b[:n] {
			v = v<<8 | uint64(c)
		}
		return v
	}
	inLogs := map[uint64]struct{}{}
	for i := 0; i+n <= len(logs); i++ {
		inLogs[word([]byte(logs[i:i+n]))] = struct{}{}
	}
	var leaks []string
	seen := map[uint64]bool{}
	check := func(b []byte) {
		for i := 0; i+n <= len(b) && len(leaks) < limit; i++ {
			w := b[i : i+n]
			k := word(w)
			if _, ok := inLogs[k]; !ok || seen[k] {
				continue
			}
			seen[k] = true
			if whitelisted(w) {
				continue
			}
			line := ""
			if j := strings.Index(logs, string(w)); j >= 0 {
				s, e := strings.LastIndexByte(logs[:j], '\n')+1, strings.IndexByte(logs[j:], '\n')
				if e < 0 {
					e = len(logs) - j
				}
				line = logs[s : j+e]
			}
			leaks = append(leaks, fmt.Sprintf("%q in log line %s", w, line))
		}
	}
	for _, p := range payloads {
		if len(p) > 16<<10 { // oversize records repeat a short pattern: both ends hold every window
			check(p[:8<<10])
			check(p[len(p)-8<<10:])
			continue
		}
		check(p)
	}
	return leaks
}

// TestE2E_BadInputMix loads DMS records with bad ones mixed in (malformed,
// truncated, not DMS, unknown record-type, unknown operation, oversize)
// and relays them with --on-invalid dlq: every invalid and oversize record
// must be in the dead-letter stream exactly once, byte for byte after its
// header line, unknown operations in the destination, every source record
// in one of the two, and no log line may hold any piece of any payload.
// Then --on-invalid stop: the relay stops at the first invalid record, its
// checkpoint just before it, and keeps running.
func TestE2E_BadInputMix(t *testing.T) {
	t.Parallel()
	start := time.Now()
	seed, _ := seeded(t)
	e := newEnv(t, 8)
	e.onFailure(seed, nil)
	const (
		records, bad, rows = 20000, 1000, 2000
		dlq                = "dms-cdc-dlq"
	)
	e.repartd(nil, "streams", "create", "--stream", dlq, "--shards", "1")
	e.repartd(nil, "load", "--stream", e.src, "--records", fmt.Sprint(records), "--bad-records", fmt.Sprint(bad),
		"--rows", fmt.Sprint(rows), "--tables", "4", "--seed", fmt.Sprint(seed))
	gen, err := loadgen.New(loadCfg(seed, rows, records, bad))
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		data []byte
		kind loadgen.BadKind
	}
	want := make([]rec, records)
	kinds := map[loadgen.BadKind]int{}
	firstInvalid := -1
	for i := range want {
		r := gen.Next()
		want[i] = rec{append([]byte(nil), r.Data...), r.Bad}
		kinds[r.Bad]++
		if firstInvalid < 0 && r.Bad.Invalid() {
			firstInvalid = i
		}
	}
	t.Logf("loaded %d records (%v) after %s", records, kinds, time.Since(start).Round(time.Millisecond))

	c := e.client()
	var src []kinesisio.ShardRecords
	t.Run("source", func(t *testing.T) {
		src = readStream(t, c, e.src)
		if len(src) != 1 || len(src[0].Records) != records {
			t.Fatalf("source holds %d shards; want one with %d records", len(src), records)
		}
		for i, r := range src[0].Records {
			if string(r.Data) != string(want[i].data) {
				t.Fatalf("source record %d is not what loadgen regenerates for seed %d", i, seed)
			}
		}
	})
	if t.Failed() {
		return
	}
	seqs := make([]string, records)
	for i, r := range src[0].Records {
		seqs[i] = *r.SequenceNumber
	}

	t.Run("dlq", func(t *testing.T) {
		run := e.spawn("run", nil, e.runArgs("--on-invalid", "dlq", "--dlq-stream", dlq, "--stop-when-idle", "2s")...)
		code := run.wait(60 * time.Second)
		sum := lastSummary(run.out.String())
		t.Logf("relay exited %d after %s: %+v", code, time.Since(start).Round(time.Millisecond), sum)
		// A record that stops the shard is a failure; the records before
		// it are still checked, to tell what went wrong from what did not.
		upTo := records
		for _, l := range logLines[map[string]any](run.out.String(), "bad record") {
			if l["level"] != "error" {
				continue
			}
			i := slices.Index(seqs, fmt.Sprint(l["seq"]))
			t.Errorf("source record %d (%q, %d bytes) stopped the shard: %s (%v, reason %q, route %q)",
				i, want[max(i, 0)].kind, len(want[max(i, 0)].data), l["error"], l["message"], l["reason"], l["route"])
			if i >= 0 {
				upTo = min(upTo, i)
			}
		}
		if code != 0 {
			t.Errorf("run exited %d; checking the %d records before the one it stopped at", code, upTo)
		}

		inDest := map[string]int{}
		destRecords := 0
		for _, s := range readStream(t, c, e.dst) {
			for _, r := range s.Records {
				inDest[string(r.Data)]++
				destRecords++
			}
		}
		inDLQ := map[string]int{}
		dlqRecords := 0
		for _, s := range readStream(t, c, dlq) {
			for _, r := range s.Records {
				dlqRecords++
				head, orig, ok := strings.Cut(string(r.Data), "\n")
				var h kinesisio.DLQHeader
				if !ok || json.Unmarshal([]byte(head), &h) != nil || h.Version == 0 {
					// A record too big for a header line is dead-lettered
					// raw, under its source partition key.
					if len(r.Data) < 1<<20-1024 || *r.PartitionKey != "LOADTASK" {
						t.Errorf("dead letter %s has no JSON header line and is not an oversize record sent raw", *r.SequenceNumber)
					}
					inDLQ[string(r.Data)]++
					continue
				}
				inDLQ[orig]++
				i := slices.Index(seqs, h.Seq)
				switch {
				case h.Version != 1 || h.Stream != e.src || h.ShardID != "shardId-000000000000" || h.PartitionKey != "LOADTASK" || h.Reason == "":
					t.Errorf("dead letter header %+v", h)
				case i < 0:
					t.Errorf("dead letter header %+v: no source record at seq %s", h, h.Seq)
				case string(want[i].data) != orig:
					t.Errorf("dead letter of source record %d (%s, seq %s): the bytes after the header are not the original's", i, want[i].kind, h.Seq)
				}
			}
		}
		counts := map[string]int{}
		for i, w := range want[:upTo] {
			d, q := inDest[string(w.data)], inDLQ[string(w.data)]
			switch {
			case w.kind.Invalid() || w.kind == loadgen.BadOversize:
				if q != 1 || d != 0 {
					counts["bad-misplaced"]++
					if counts["bad-misplaced"] <= 5 {
						t.Errorf("record %d (%s, seq %s, %d bytes): %d times in the dead-letter stream, %d in the destination; want 1 and 0",
							i, w.kind, seqs[i], len(w.data), q, d)
					}
				}
				counts["dead-lettered"] += q
			default:
				if d == 0 || q != 0 {
					counts["good-misplaced"]++
					if counts["good-misplaced"] <= 5 {
						t.Errorf("record %d (%q, seq %s): %d times in the destination, %d in the dead-letter stream; want ≥ 1 and 0",
							i, w.kind, seqs[i], d, q)
					}
				}
				if d > 0 {
					counts["delivered"]++
				}
			}
		}
		distinctDest := len(inDest)
		t.Logf("destination: %d records, %d distinct; dead-letter stream: %d records, %d distinct; %v",
			destRecords, distinctDest, dlqRecords, len(inDLQ), counts)
		if upTo < records {
			return // the accounting below needs every record relayed
		}
		if distinctDest+len(inDLQ) != records || counts["delivered"] != distinctDest {
			t.Errorf("accounting: %d distinct in the destination + %d distinct dead letters != %d source records (or the destination holds records not from the source)",
				distinctDest, len(inDLQ), records)
		}
		if n := kinds[loadgen.BadUnknownOperation]; n == 0 {
			t.Errorf("no unknown-operation record in the load")
		}
		deadLettered := records - kinds[""] - kinds[loadgen.BadUnknownOperation]
		if sum.TotalDeadLetters != int64(deadLettered) {
			t.Errorf("lag_summary counts %d dead letters, want %d", sum.TotalDeadLetters, deadLettered)
		}
		r := e.verify()
		t.Logf("verify: missing %d (want the %d dead letters), duplicates %d, order_violations %d, unexpected %d",
			r.Missing, deadLettered, r.Duplicates, r.OrderViolations, r.Unexpected)
		if r.Missing != deadLettered || r.OrderViolations != 0 || r.Unexpected != 0 || r.Misrouted != 0 {
			t.Errorf("verify: %+v", r)
		}
	})

	t.Run("stop", func(t *testing.T) {
		dst, ckpt := "dms-cdc-wide-stop", t.TempDir()
		e.repartd(nil, "streams", "create", "--stream", dst, "--shards", "4")
		run := e.spawn("run-stop", nil, "run", "--source", e.src, "--dest", dst, "--checkpoint", ckpt,
			"--log-interval", "1s", "--on-invalid", "stop")
		before := seqs[firstInvalid-1]
		shardCP := func() kinesisio.ShardCheckpoint {
			var cp kinesisio.Checkpoint
			if b, err := os.ReadFile(filepath.Join(ckpt, e.src+".json")); err == nil {
				if err := json.Unmarshal(b, &cp); err != nil {
					t.Fatalf("checkpoint: %v", err)
				}
			}
			return cp.Shards["shardId-000000000000"]
		}
		deadline := time.Now().Add(30 * time.Second)
		for shardCP().Seq != before {
			if time.Now().After(deadline) || !run.running() {
				t.Fatalf("checkpoint %+v: want seq %s, the record before the first invalid one (#%d, seq %s)",
					shardCP(), before, firstInvalid, seqs[firstInvalid])
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
		if !run.running() {
			t.Fatalf("run stopped on a bad record with --on-invalid stop; it should keep running")
		}
		if got := shardCP(); got.Seq != before || got.Ended {
			t.Errorf("checkpoint moved to %+v, want seq %s", got, before)
		}
		line := waitLog(t, &run.out, time.Second, `"message":"bad record"`, `"seq":"`+seqs[firstInvalid]+`"`)
		t.Logf("relay: %s", line)
		if !strings.Contains(line, `"level":"error"`) {
			t.Errorf("the stopping bad record is not logged as an error: %s", line)
		}
		run.kill9()
		n := map[string]bool{}
		for _, s := range readStream(t, c, dst) {
			for _, r := range s.Records {
				n[string(r.Data)] = true
			}
		}
		if len(n) != firstInvalid {
			t.Errorf("destination holds %d distinct records, want the %d before the first invalid one", len(n), firstInvalid)
		}
	})

	t.Run("logs", func(t *testing.T) {
		payloads := make([][]byte, len(want))
		for i, w := range want {
			payloads[i] = w.data
		}
		logs := e.logs.String()
		leaks := payloadLeaks(logs, payloads, 20)
		for _, l := range leaks {
			t.Errorf("payload bytes in the logs: %s", l)
		}
		t.Logf("scanned %d bytes of logs for 8-byte pieces of %d payloads: %d leaks", len(logs), len(payloads), len(leaks))
	})
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// The log scan of TestE2E_BadInputMix is only as good as its detector:
// it must find a payload piece however short the leak, and let through
// what logs carry by design.
func TestPayloadLeaks_FindsPiecesAndAllowsStructure(t *testing.T) {
	payload := []byte(`{"data":{"id":42,"email":"bad.7@example.org","note":"fake row of Jane Doe"},"metadata":{"record-type":"data","operation":"update","schema-name":"shop","table-name":"orders"}}`)
	for _, tc := range []struct {
		name, logs string
		leak       bool
	}{
		{"table and schema names", `{"schema":"shop","table":"orders","key_columns":["id"],"message":"key columns learned"}`, false},
		{"sequence numbers", `{"seq":"4968058161688165455479812434606192738507890547352403968242","time":"2026-11-26T11:20:22.357Z"}`, false},
		{"metadata words", `{"reason":"unknown record-type","operation":"update"}`, false},
		{"a value", `{"reason":"bad.7@example.org"}`, true},
		{"eight bytes of free text", `{"x":"Jane Doe"}`, true},
		{"a member and its value", `{"error":"\"note\":\"fake row"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaks := payloadLeaks(tc.logs, [][]byte{payload}, 5)
			if (len(leaks) > 0) != tc.leak {
				t.Errorf("leaks %q; want a leak: %v", leaks, tc.leak)
			}
		})
	}
}
