package kinesistest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Emulator is a real emulator process started for one test.
type Emulator struct {
	// URL is its endpoint, http://127.0.0.1:PORT.
	URL string
	cmd *exec.Cmd

	name     string
	out      *lockedBuilder // stderr, and stdout lines not parsed
	exited   chan struct{}  // closed once the process is reaped
	waitErr  error          // set before exited closes
	stopping atomic.Bool
}

// watch reaps the process in the background and, if the test fails,
// reports an emulator that died before the test stopped it, with its
// output: an emulator crash otherwise shows only as "connection refused".
func (e *Emulator) watch(t testing.TB) {
	e.exited = make(chan struct{})
	cmd := e.cmd
	go func() { // ends when the process does
		e.waitErr = cmd.Wait()
		close(e.exited)
	}()
	t.Cleanup(e.Stop)
	t.Cleanup(func() { // runs before Stop (cleanups run last-in first-out)
		if !t.Failed() {
			return
		}
		select {
		case <-e.exited:
			if !e.stopping.Load() {
				t.Logf("%s exited during the test (%v); its output:\n%s", e.name, e.waitErr, e.out.String())
			}
		default:
		}
	})
}

// RepoRoot returns the repository root (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository root")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var listening = regexp.MustCompile(`listening on 127\.0\.0\.1:(\d+)`)

// StartKinesalite starts kinesalite (deploy/local, pinned) on a free
// loopback port for the duration of the test, in memory, with streams
// ACTIVE at once. A missing Node.js or npm install fails the test: run
// `make test` (or scripts/emulators.sh install) first. It never skips.
func StartKinesalite(t testing.TB) *Emulator {
	t.Helper()
	root := RepoRoot(t)
	script := filepath.Join(root, "deploy", "local", "kinesalite-local.js")
	if _, err := os.Stat(filepath.Join(root, "deploy", "local", "node_modules", "kinesalite")); err != nil {
		t.Fatalf("kinesalite is not installed (%v): run scripts/emulators.sh install", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v (scripts/emulators.sh install sets it up)", err)
	}
	cmd := exec.Command(node, script, "--port", "0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuilder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kinesalite: %v", err)
	}
	e := &Emulator{cmd: cmd, name: "kinesalite", out: stderr}
	e.watch(t)
	port := make(chan string, 1)
	go func() { // ends when kinesalite closes stdout (exits)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case port <- m[1]:
				default:
				}
			} else {
				stderr.WriteString(sc.Text() + "\n")
			}
		}
	}()
	select {
	case p := <-port:
		e.URL = fmt.Sprintf("http://127.0.0.1:%s", p)
	case <-time.After(15 * time.Second):
		t.Fatalf("kinesalite did not start within 15s: %s", stderr.String())
	}
	return e
}

// announcePreload is a Node preload that prints the address of every TCP
// server once it listens: kinesis-local, started on port 0, logs no port.
const announcePreload = `'use strict'
const net = require('net')
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function () {
  this.once('listening', () => {
    const a = this.address()
    if (a && typeof a === 'object') console.log('repartd-emulator listening on ' + a.address + ':' + a.port)
  })
  return listen.apply(this, arguments)
}
`

// kinesisLocalEnv configures kinesis-local for tests: loopback ports
// picked by the kernel, a high shard limit, and every state change
// (create, delete, split, merge, resize) done at once.
var kinesisLocalEnv = []string{
	"KINESIS_MOCK_PLAIN_PORT=0", "KINESIS_MOCK_TLS_PORT=0",
	"SHARD_LIMIT=1000", "ON_DEMAND_STREAM_COUNT_LIMIT=100",
	"CREATE_STREAM_DURATION=0ms", "DELETE_STREAM_DURATION=0ms",
	"SPLIT_SHARD_DURATION=0ms", "MERGE_SHARDS_DURATION=0ms",
	"UPDATE_SHARD_COUNT_DURATION=0ms", "UPDATE_STREAM_MODE_DURATION=0ms",
	"REGISTER_STREAM_CONSUMER_DURATION=0ms", "DEREGISTER_STREAM_CONSUMER_DURATION=0ms",
	"START_STREAM_ENCRYPTION_DURATION=0ms", "STOP_STREAM_ENCRYPTION_DURATION=0ms",
	"SHOULD_PERSIST_DATA=false", "LOAD_DATA_IF_EXISTS=false",
	"AWS_REGION=us-east-1", "AWS_ACCOUNT_ID=000000000000", "LOG_LEVEL=WARN",
}

// StartKinesisLocal starts kinesis-local (LocalStack's Kinesis engine,
// deploy/local, pinned) on loopback ports picked by the kernel for the
// duration of the test, in memory, with every stream state change
// immediate. Its plain-HTTP endpoint is URL. Unlike kinesalite it returns
// ChildShards and honours ListShards filters; it is about ten times
// slower. A missing Node.js or npm install fails the test: run `make test`
// (or scripts/emulators.sh install) first. It never skips.
func StartKinesisLocal(t testing.TB) *Emulator {
	t.Helper()
	root := RepoRoot(t)
	local := filepath.Join(root, "deploy", "local")
	main := filepath.Join(local, "node_modules", "kinesis-local", "main.js")
	if _, err := os.Stat(main); err != nil {
		t.Fatalf("kinesis-local is not installed (%v): run scripts/emulators.sh install", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v (scripts/emulators.sh install sets it up)", err)
	}
	preload := filepath.Join(t.TempDir(), "announce.js")
	if err := os.WriteFile(preload, []byte(announcePreload), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-r", filepath.Join(local, "force-loopback.js"), "-r", preload, main)
	cmd.Dir = t.TempDir() // it resolves relative paths (persistence) from here
	cmd.Env = append(os.Environ(), kinesisLocalEnv...)
	cmd.Env = append(cmd.Env, "KINESIS_MOCK_CERT_PATH="+filepath.Join(local, "node_modules", "kinesis-local", "server.json"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuilder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kinesis-local: %v", err)
	}
	e := &Emulator{cmd: cmd, name: "kinesis-local", out: stderr}
	e.watch(t)
	addrs := make(chan string, 2)
	go func() { // ends when kinesis-local closes stdout (exits)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if m := announced.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrs <- m[1]:
				default:
				}
			} else {
				stderr.WriteString(sc.Text() + "\n")
			}
		}
	}()
	// It listens twice, TLS and plain HTTP, in no fixed order: the plain
	// one is the one that answers HTTP.
	deadline := time.After(15 * time.Second)
	for e.URL == "" {
		select {
		case a := <-addrs:
			if u := "http://" + a; answersHTTP(u) {
				e.URL = u
			}
		case <-deadline:
			t.Fatalf("kinesis-local did not start within 15s: %s", stderr.String())
		}
	}
	return e
}

var announced = regexp.MustCompile(`^repartd-emulator listening on (127\.0\.0\.1:\d+)$`)

// answersHTTP says whether url answers a plain HTTP request (a TLS port
// drops it).
func answersHTTP(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// lockedBuilder is a strings.Builder safe for the emulator's output
// goroutines.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Stop ends the emulator; it is idempotent.
func (e *Emulator) Stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	e.stopping.Store(true)
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(3 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
	e.cmd = nil
}
