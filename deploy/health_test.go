package deploy

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repartd/repartd/kinesisio/kinesistest"
)

// TestHealthcheck_ProbesARealRun: the image's HEALTHCHECK command against
// a real `repartd run`: healthy while it runs (by flag, and by following
// REPARTD_METRICS_ADDR as a container sets it, wildcard host included),
// unhealthy once it has stopped.
func TestHealthcheck_ProbesARealRun(t *testing.T) {
	needBinary(t)
	emu := kinesistest.StartKinesalite(t)
	env := emulatorEnv(emu.URL)
	for _, s := range []string{"src", "dst"} {
		if _, err := repartd(env, "streams", "create", "--stream", s, "--shards", "1"); err != nil {
			t.Fatal(err)
		}
	}
	run := exec.Command(binary, "run", "--source", "src", "--dest", "dst", "--checkpoint", t.TempDir(),
		"--metrics-addr", "127.0.0.1:0")
	run.Env = env
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if run.ProcessState == nil {
			_ = run.Process.Kill()
			_ = run.Wait()
		}
	})
	addr := make(chan string, 1)
	go func() { // ends when run exits and closes stderr
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			if msg, _ := m["message"].(string); strings.HasPrefix(msg, "serving /metrics") {
				a, _ := m["addr"].(string)
				addr <- a
			}
		}
	}()
	var bound string
	select {
	case bound = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatal("run logged no serving /metrics line within 20 s")
	}
	port := bound[strings.LastIndex(bound, ":")+1:]
	probe := func(env []string, args ...string) error {
		cmd := exec.Command(binary, append([]string{"healthcheck"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("healthcheck %v: %s", args, out)
		}
		return err
	}
	if err := probe(env, "--addr", bound); err != nil {
		t.Errorf("healthcheck --addr %s while run runs: %v", bound, err)
	}
	if err := probe(append(env, "REPARTD_METRICS_ADDR=0.0.0.0:"+port)); err != nil {
		t.Errorf("healthcheck with REPARTD_METRICS_ADDR=0.0.0.0:%s (the compose setting): %v", port, err)
	}
	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("run after SIGTERM: %v, want exit 0", err)
	}
	err = probe(env, "--addr", bound)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("healthcheck after run stopped: %v, want exit 1", err)
	}
}
