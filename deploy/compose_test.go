package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// composeService is the part of a compose service these tests read.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Profiles    []string          `yaml:"profiles"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test    []string `yaml:"test"`
		Disable bool     `yaml:"disable"`
	} `yaml:"healthcheck"`
	StopGracePeriod string `yaml:"stop_grace_period"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false) // compose has many keys these tests do not read
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

const repartdImage = "repartd:local"

// subcommand is the repartd command line of a service (ENTRYPOINT /repartd).
func subcommand(s composeService) []string {
	if len(s.Command) == 0 {
		return []string{"run"} // the image's CMD
	}
	return s.Command
}

// flagArgs is the part of a command line that names the flag set:
// "streams create" has one, "run" has one.
func flagArgs(cmd []string) []string {
	if cmd[0] == "streams" {
		return cmd[:2]
	}
	return cmd[:1]
}

func TestCompose_ServicesImagesAndDependencies(t *testing.T) {
	c := readCompose(t)
	want := []string{"create-dest", "create-source", "load", "localstack", "run", "verify"}
	if got := slices.Sorted(maps.Keys(c.Services)); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	for name, s := range c.Services {
		switch {
		case s.Image == repartdImage:
			if s.Build == nil || filepath.Join("deploy", s.Build.Context, s.Build.Dockerfile) != filepath.Join("deploy", "Dockerfile") {
				t.Errorf("%s: image %s must be built from deploy/Dockerfile with the repository as context, got %+v", name, s.Image, s.Build)
			}
		default:
			repo, tag, ok := strings.Cut(s.Image[strings.LastIndex(s.Image, "/")+1:], ":")
			if !ok || tag == "" || tag == "latest" || strings.ContainsAny(tag, "*") || repo == "" {
				t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
			}
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
			}
			switch d.Condition {
			case "service_healthy":
				if h := c.Services[dep].Healthcheck; h == nil || h.Disable || len(h.Test) == 0 {
					t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			case "service_completed_successfully", "service_started":
			default:
				t.Errorf("%s depends on %s with condition %q", name, dep, d.Condition)
			}
		}
	}
	if _, err := composeOrder(c); err != nil {
		t.Fatal(err)
	}

	ls := c.Services["localstack"]
	if !strings.HasPrefix(ls.Image, "localstack/localstack:4.") {
		t.Errorf("localstack image %s, want a pinned localstack/localstack:4.x", ls.Image)
	}
	svcs := strings.Split(ls.Environment["SERVICES"], ",")
	for _, need := range []string{"kinesis", "dynamodb", "logs"} {
		if !slices.Contains(svcs, need) {
			t.Errorf("localstack SERVICES=%s lacks %s", ls.Environment["SERVICES"], need)
		}
	}

	// The repartd services: LocalStack with dummy credentials; only run
	// keeps the image's healthcheck.
	dockerHC := dockerHealthcheck(t)
	for name, s := range c.Services {
		if s.Image != repartdImage {
			continue
		}
		e := s.Environment
		if e["AWS_ENDPOINT_URL"] != "http://localstack:4566" || e["AWS_REGION"] == "" ||
			e["AWS_ACCESS_KEY_ID"] == "" || e["AWS_SECRET_ACCESS_KEY"] == "" {
			t.Errorf("%s: environment %v lacks LocalStack's endpoint, a region or dummy credentials", name, e)
		}
		if !dependsOnTransitively(c, name, "localstack") {
			t.Errorf("%s does not wait for localstack", name)
		}
		isRun := subcommand(s)[0] == "run"
		switch {
		case isRun && (s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, append([]string{"CMD"}, dockerHC...))):
			t.Errorf("run's healthcheck %+v, want the image's CMD %q", s.Healthcheck, dockerHC)
		case !isRun && (s.Healthcheck == nil || !s.Healthcheck.Disable):
			t.Errorf("%s is one-shot and serves no /healthz: disable the image's healthcheck", name)
		}
	}

	// The pipeline is wired to itself: streams created, loaded, relayed, verified.
	src, dst := c.Services["create-source"].Environment, c.Services["create-dest"].Environment
	run, load, verify := c.Services["run"], c.Services["load"], c.Services["verify"]
	if src["REPARTD_SHARDS"] != "1" {
		t.Errorf("source stream has %s shards, want 1 (like a DMS target)", src["REPARTD_SHARDS"])
	}
	for _, chk := range []struct{ what, got, want string }{
		{"run's source", run.Environment["REPARTD_SOURCE"], src["REPARTD_STREAM"]},
		{"run's dest", run.Environment["REPARTD_DEST"], dst["REPARTD_STREAM"]},
		{"load's stream", load.Environment["REPARTD_STREAM"], src["REPARTD_STREAM"]},
		{"verify's source", verify.Environment["REPARTD_SOURCE"], src["REPARTD_STREAM"]},
		{"verify's dest", verify.Environment["REPARTD_DEST"], dst["REPARTD_STREAM"]},
		{"verify's keys", verify.Environment["REPARTD_KEY"], run.Environment["REPARTD_KEY"]},
		{"run's checkpoint", run.Environment["REPARTD_CHECKPOINT"], checkpointDir},
	} {
		if chk.got != chk.want || chk.got == "" && chk.what != "verify's keys" {
			t.Errorf("%s = %q, want %q", chk.what, chk.got, chk.want)
		}
	}
	if !slices.ContainsFunc(run.Volumes, func(v string) bool {
		name, path, _ := strings.Cut(v, ":")
		_, declared := c.Volumes[name]
		return declared && path == checkpointDir
	}) {
		t.Errorf("run volumes %v: want a named volume on %s", run.Volumes, checkpointDir)
	}
	grace, err := time.ParseDuration(run.StopGracePeriod)
	drain, err2 := time.ParseDuration(flagDefault(t, "drain-timeout", "run"))
	if err != nil || err2 != nil || grace <= drain {
		t.Errorf("run's stop_grace_period %q must outlast --drain-timeout (%v) so SIGTERM drains", run.StopGracePeriod, drain)
	}
	if !slices.Equal(verify.Profiles, []string{"verify"}) {
		t.Errorf("verify profiles %v, want [verify]: a one-shot check, not part of up", verify.Profiles)
	}
	if verify.DependsOn["load"].Condition != "service_completed_successfully" || verify.DependsOn["run"].Condition != "service_healthy" {
		t.Errorf("verify depends on %+v, want load completed and run healthy", verify.DependsOn)
	}
}

func TestCompose_EnvTwinsAreRealFlags(t *testing.T) {
	c := readCompose(t)
	for name, s := range c.Services {
		if s.Image != repartdImage {
			continue
		}
		cmd := subcommand(s)
		flags := flagEnv(t, flagArgs(cmd)...)
		n := 0
		for k := range s.Environment {
			if !strings.HasPrefix(k, "REPARTD_") {
				continue
			}
			n++
			if !flags[k] {
				t.Errorf("%s: %s is not a flag of repartd %s (repartd %s -h)", name, k, strings.Join(cmd, " "), strings.Join(flagArgs(cmd), " "))
			}
		}
		if n == 0 {
			t.Errorf("%s sets no REPARTD_* variable", name)
		}
	}
}

// composeOrder returns the services in an order depends_on allows.
func composeOrder(c composeFile) ([]string, error) {
	var order []string
	done := map[string]bool{}
	for len(order) < len(c.Services) {
		progress := false
		for _, name := range slices.Sorted(maps.Keys(c.Services)) {
			if done[name] {
				continue
			}
			ready := true
			for dep := range c.Services[name].DependsOn {
				ready = ready && done[dep]
			}
			if ready {
				done[name], progress = true, true
				order = append(order, name)
			}
		}
		if !progress {
			return nil, fmt.Errorf("depends_on has a cycle among %v", c.Services)
		}
	}
	return order, nil
}

func dependsOnTransitively(c composeFile, from, to string) bool {
	for dep := range c.Services[from].DependsOn {
		if dep == to || dependsOnTransitively(c, dep, to) {
			return true
		}
	}
	return false
}

// dockerHealthcheck is the image's HEALTHCHECK command (exec form).
func dockerHealthcheck(t *testing.T) []string {
	t.Helper()
	ins, _ := readDockerfile(t)
	for _, in := range ins {
		if in.cmd == "HEALTHCHECK" {
			if v, ok := execForm(strings.TrimSpace(strings.TrimPrefix(in.args, "CMD"))); ok {
				return v
			}
		}
	}
	t.Fatal("the Dockerfile has no exec-form HEALTHCHECK")
	return nil
}

// step is one service as deploy/local/compose-equivalent.sh ran it.
type step struct {
	service string
	env     map[string]string
	args    []string
}

func TestCompose_EquivalentScriptRunsTheSameCommandsOnKinesalite(t *testing.T) {
	needBinary(t)
	c := readCompose(t)
	cmd := exec.Command(filepath.Join(repoRoot(), "deploy", "local", "compose-equivalent.sh"))
	cmd.Env = append(os.Environ(), "REPARTD_BIN="+binary,
		fmt.Sprintf("COMPOSE_EQ_PORT=%d", freePort(t)), fmt.Sprintf("COMPOSE_EQ_METRICS_PORT=%d", freePort(t)),
		"EMU_DIR=") // the script sets its own
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("compose-equivalent.sh: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var steps []step
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	last := ""
	for sc.Scan() {
		last = sc.Text()
		rest, ok := strings.CutPrefix(sc.Text(), "step ")
		if !ok {
			continue
		}
		name, body, _ := strings.Cut(rest, ": ")
		s := step{service: name, env: map[string]string{}}
		vars, args, found := strings.Cut(body, " -- ")
		if found {
			for _, kv := range strings.Fields(vars) {
				k, v, _ := strings.Cut(kv, "=")
				s.env[k] = v
			}
			s.args = strings.Fields(args)
		}
		steps = append(steps, s)
	}
	if last != "compose-equivalent ok" {
		t.Fatalf("script ended with %q, want compose-equivalent ok\n%s", last, stdout.String())
	}

	// Every service once, each after what it depends on.
	pos := map[string]int{}
	for i, s := range steps {
		if _, dup := pos[s.service]; dup {
			t.Errorf("service %s ran twice", s.service)
		}
		pos[s.service] = i
	}
	for name, svc := range c.Services {
		i, ok := pos[name]
		if !ok {
			t.Errorf("the script does not run service %s", name)
			continue
		}
		for dep := range svc.DependsOn {
			if j, ok := pos[dep]; !ok || j > i {
				t.Errorf("the script runs %s before %s, which it depends on", name, dep)
			}
		}
	}
	for _, s := range steps {
		svc, ok := c.Services[s.service]
		if !ok {
			t.Errorf("the script runs %s, which compose.yaml does not have", s.service)
			continue
		}
		if svc.Image != repartdImage {
			continue // localstack: kinesalite stands in
		}
		if !slices.Equal(s.args, subcommand(svc)) {
			t.Errorf("%s: script runs repartd %q, compose %q", s.service, s.args, subcommand(svc))
		}
		if !maps.Equal(s.env, svc.Environment) {
			t.Errorf("%s: script environment\n  %v\ncompose environment\n  %v", s.service, s.env, svc.Environment)
		}
		for k, v := range svc.Environment {
			if strings.ContainsAny(v, " \t") {
				t.Errorf("%s: %s=%q has a space, which the step line cannot show", s.service, k, v)
			}
		}
	}
}

// freePort returns a loopback port nothing listens on (racy, but only
// with other processes picking ports the same way).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
