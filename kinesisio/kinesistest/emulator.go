package kinesistest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Emulator is a real emulator process started for one test.
type Emulator struct {
	// URL is its endpoint, http://127.0.0.1:PORT.
	URL string
	cmd *exec.Cmd
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
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kinesalite: %v", err)
	}
	e := &Emulator{cmd: cmd}
	t.Cleanup(e.Stop)
	port := make(chan string, 1)
	go func() { // ends when kinesalite closes stdout (exits)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
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

// Stop ends the emulator; it is idempotent.
func (e *Emulator) Stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = e.cmd.Process.Kill()
		<-done
	}
	e.cmd = nil
}
