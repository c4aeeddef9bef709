package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

// These tests run the real binary against a real kinesalite process.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "repartd-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "repartd")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build repartd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	t        *testing.T
	emu      *kinesistest.Emulator
	vars     []string
	logs     syncBuffer // every repartd log line of the test, from every process
	ckptDir  string
	src, dst string
}

// syncBuffer is a bytes.Buffer safe for concurrent writers: several
// repartd processes (load, run, verify) may log at once.
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

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func newEnv(t *testing.T, dstShards int) *env {
	t.Helper()
	return newEnvOn(t, kinesistest.StartKinesalite(t), dstShards)
}

// newEnvOn is newEnv on an emulator already started.
func newEnvOn(t *testing.T, emu *kinesistest.Emulator, dstShards int) *env {
	t.Helper()
	e := &env{t: t, emu: emu, ckptDir: t.TempDir(), src: "dms-cdc", dst: "dms-cdc-wide"}
	e.vars = append(os.Environ(),
		"AWS_ENDPOINT_URL="+e.emu.URL, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=",
		"AWS_EC2_METADATA_DISABLED=true", "REPARTD_METRICS_ADDR=127.0.0.1:0", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		// The race runtime sleeps 1 s at exit by default; a test runs dozens
		// of short commands.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	e.repartd(nil, "streams", "create", "--stream", e.src, "--shards", "1")
	e.repartd(nil, "streams", "create", "--stream", e.dst, "--shards", fmt.Sprint(dstShards))
	return e
}

// repartd runs a repartd command to completion and returns its stdout.
func (e *env) repartd(wantCode *int, args ...string) []byte {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = e.vars
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &e.logs
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("repartd %v: %v", args, err)
	}
	want := 0
	if wantCode != nil {
		want = *wantCode
	}
	if code != want {
		e.t.Fatalf("repartd %v: exit %d, want %d\nstdout: %s\nlogs:\n%s", args, code, want, out.String(), tail(e.logs.String(), 40))
	}
	return out.Bytes()
}

// start starts `repartd run` in the background.
func (e *env) start(extra ...string) *exec.Cmd {
	e.t.Helper()
	args := append([]string{"run", "--source", e.src, "--dest", e.dst, "--checkpoint", e.ckptDir,
		"--log-interval", "500ms", "--stop-when-idle", "1s"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = e.vars
	cmd.Stdout, cmd.Stderr = &e.logs, &e.logs
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func (e *env) load(records, rows int, seed uint64) {
	e.t.Helper()
	e.repartd(nil, "load", "--stream", e.src, "--records", fmt.Sprint(records), "--rows", fmt.Sprint(rows),
		"--tables", "4", "--seed", fmt.Sprint(seed))
}

// verify runs `repartd verify` of e.src against e.dst, with extra flags.
func (e *env) verify(extra ...string) Report {
	e.t.Helper()
	code := 0
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"verify", "--source", e.src, "--dest", e.dst}, extra...)...)
	cmd.Env = e.vars
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &e.logs
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			e.t.Fatal(err)
		}
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		e.t.Fatalf("verify output %q: %v", out.String(), err)
	}
	if (code == 0) != r.OK {
		e.t.Fatalf("verify exit %d disagrees with ok=%v", code, r.OK)
	}
	return r
}

func (e *env) checkpoint() kinesisio.Checkpoint {
	e.t.Helper()
	var cp kinesisio.Checkpoint
	b, err := os.ReadFile(filepath.Join(e.ckptDir, e.src+".json"))
	if err != nil {
		return cp
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		e.t.Fatalf("checkpoint is not valid JSON after a crash: %v", err)
	}
	return cp
}

// noPayloadInLogs fails if any log line holds record content.
func (e *env) noPayloadInLogs() {
	e.t.Helper()
	for _, marker := range []string{"generated by repartd load", "customer_id", `"data":`, "EUR"} {
		if strings.Contains(e.logs.String(), marker) {
			e.t.Fatalf("logs contain record payload (%q)", marker)
		}
	}
}

func TestE2E_SpreadsInOrderAcrossSIGKILLs(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	e := newEnv(t, 16)
	e.load(30000, 3000, seed)
	kills := 0
	for kills < 3 {
		cmd := e.start()
		// Let it make some progress, then kill -9 at a random moment.
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		kills++
		e.checkpoint() // must parse: the file is replaced atomically
	}
	cmd := e.start()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v\n%s", err, tail(e.logs.String(), 30))
	}
	r := e.verify()
	t.Logf("after %d SIGKILLs: %+v", kills, r)
	if r.Missing != 0 || r.OrderViolations != 0 || r.Unexpected != 0 || r.Misrouted != 0 {
		t.Fatalf("verify: %+v", r)
	}
	if r.SourceRecords != 30000 || r.ShardsUsed != 16 {
		t.Fatalf("source %d records over %d shards used; want 30000 over 16", r.SourceRecords, r.ShardsUsed)
	}
	e.noPayloadInLogs()
}

func TestE2E_SIGTERMDrainsWithoutDuplicates(t *testing.T) {
	e := newEnv(t, 8)
	e.load(20000, 2000, 7)
	cmd := e.start("--stop-when-idle", "0")
	deadline := time.Now().Add(30 * time.Second)
	for len(e.checkpoint().Shards) == 0 { // wait until it is moving
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after 30s:\n%s", tail(e.logs.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: exit %v, want 0\n%s", err, tail(e.logs.String(), 30))
	}
	mid := e.verify()
	if mid.Duplicates != 0 || mid.OrderViolations != 0 || mid.Unexpected != 0 {
		t.Fatalf("after drain: %+v", mid)
	}
	if mid.DestRecords == 0 || mid.DestRecords == mid.SourceRecords {
		t.Logf("note: drain happened at %d of %d records", mid.DestRecords, mid.SourceRecords)
	}
	if err := e.start().Wait(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	r := e.verify()
	if !r.OK || r.Duplicates != 0 {
		t.Fatalf("after SIGTERM and restart: %+v, want ok with 0 duplicates", r)
	}
	e.noPayloadInLogs()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
