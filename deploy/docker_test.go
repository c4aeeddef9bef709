package deploy

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// stages splits instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// execForm decodes a JSON-array (exec form) argument; ok is false for the
// shell form, which needs a shell the final image does not have.
func execForm(args string) ([]string, bool) {
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		return nil, false
	}
	return v, true
}

func find(st []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range st {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func TestDockerfile_BuildsAStaticBinaryThatKnowsItsVersion(t *testing.T) {
	needBinary(t) // TestMain ran the Dockerfile's build command and checked the ELF
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("repartd version: %v\n%s", err, out)
	}
	for _, want := range []string{testVersion, testCommit} {
		if !strings.Contains(string(out), want) {
			t.Errorf("repartd version = %q, want it to name %q (the -X main.version/main.commit flags)", out, want)
		}
	}
	if fileCmd, err := exec.LookPath("file"); err == nil {
		desc, _ := exec.Command(fileCmd, "-b", binary).Output()
		if !strings.Contains(string(desc), "statically linked") {
			t.Errorf("file says %q, want statically linked", desc)
		}
	}
}

func TestDockerfile_BuildCommandIsTheDocumentedOne(t *testing.T) {
	ins, _ := readDockerfile(t)
	cmd, err := buildCommand(ins, "OUT")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"CGO_ENABLED=0 ",
		`go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}"`,
		" ./cmd/repartd",
	} {
		if !strings.Contains(cmd, want) {
			t.Errorf("build command %q lacks %q", cmd, want)
		}
	}
}

func TestDockerfile_StagesUserEntrypointHealthcheckVolume(t *testing.T) {
	ins, comments := readDockerfile(t)
	st := stages(ins)
	if len(st) != 2 {
		t.Fatalf("%d stages, want 2 (build, final)", len(st))
	}
	build, final := st[0], st[len(st)-1]

	// Images pinned by tag, and digest pinning explained.
	from := func(in instruction) (image, alias string) {
		f := strings.Fields(in.args)
		image = f[0]
		if len(f) == 3 && strings.EqualFold(f[1], "as") {
			alias = f[2]
		}
		return image, alias
	}
	if img, alias := from(build[0]); img != "golang:1.26" || alias != "build" {
		t.Errorf("build stage FROM %s AS %s, want golang:1.26 AS build", img, alias)
	}
	if img, _ := from(final[0]); img != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static-debian12:nonroot", img)
	}
	for _, s := range st {
		img, _ := from(s[0])
		if _, tag, ok := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":"); !ok || tag == "latest" {
			t.Errorf("FROM %s: pin a tag", img)
		}
	}
	if !slices.ContainsFunc(comments, func(c string) bool { return strings.Contains(c, "@sha256:") }) {
		t.Error("no comment on pinning base images by digest")
	}

	// The final stage: no shell, so no RUN and only exec forms.
	if r := find(final, "RUN"); len(r) > 0 {
		t.Errorf("final stage has RUN at line %d: distroless/static has no shell", r[0].line)
	}
	var binPath string
	for _, c := range find(final, "COPY") {
		if f := strings.Fields(c.args); len(f) == 2 && f[0] == "/out/repartd" {
			binPath = f[1]
		}
	}
	if binPath != "/repartd" {
		t.Errorf("binary copied to %q, want /repartd", binPath)
	}
	if u := find(final, "USER"); len(u) != 1 || (u[0].args != "nonroot" && u[0].args != "65532" && u[0].args != "65532:65532") {
		t.Errorf("USER %v, want nonroot", u)
	}
	single := func(cmd string) []string {
		t.Helper()
		got := find(final, cmd)
		if len(got) != 1 {
			t.Fatalf("%d %s instructions in the final stage, want 1", len(got), cmd)
		}
		v, ok := execForm(got[0].args)
		if !ok {
			t.Fatalf("%s %s: want the exec form (JSON array), there is no shell", cmd, got[0].args)
		}
		return v
	}
	if ep := single("ENTRYPOINT"); !slices.Equal(ep, []string{binPath}) {
		t.Errorf("ENTRYPOINT %q, want [%q]", ep, binPath)
	}
	if c := single("CMD"); !slices.Equal(c, []string{"run"}) {
		t.Errorf("CMD %q, want [run]", c)
	}
	hc := find(final, "HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("%d HEALTHCHECK instructions, want 1", len(hc))
	}
	probe, ok := strings.CutPrefix(hc[0].args, "CMD ")
	v, isExec := execForm(strings.TrimSpace(probe))
	if !ok || !isExec || !slices.Equal(v, []string{binPath, "healthcheck"}) {
		t.Errorf("HEALTHCHECK %s, want CMD [%q, \"healthcheck\"]", hc[0].args, binPath)
	}
	// The probe is a real command of the binary.
	needBinary(t)
	if out, err := exec.Command(binary, "healthcheck", "-h").CombinedOutput(); err != nil {
		t.Errorf("repartd healthcheck -h: %v\n%s", err, out)
	}

	// The checkpoint directory: a volume, owned by nonroot before it is
	// declared (changes after VOLUME are discarded).
	vol := single("VOLUME")
	if !slices.Equal(vol, []string{checkpointDir}) {
		t.Errorf("VOLUME %q, want [%s]", vol, checkpointDir)
	}
	volLine := find(final, "VOLUME")[0].line
	owned := false
	for _, c := range find(final, "COPY") {
		f := strings.Fields(c.args)
		if f[len(f)-1] == checkpointDir && c.line < volLine &&
			(slices.Contains(c.flags, "--chown=65532:65532") || slices.Contains(c.flags, "--chown=nonroot:nonroot")) {
			owned = true
		}
	}
	if !owned {
		t.Errorf("no COPY --chown=65532:65532 … %s before VOLUME: a fresh volume would be root's", checkpointDir)
	}
	env := map[string]string{}
	for _, e := range find(final, "ENV") {
		k, v, _ := strings.Cut(e.args, "=")
		env[k] = v
	}
	if env["REPARTD_CHECKPOINT"] != checkpointDir {
		t.Errorf("ENV REPARTD_CHECKPOINT=%q, want %s", env["REPARTD_CHECKPOINT"], checkpointDir)
	}
	for k := range env {
		if strings.HasPrefix(k, "REPARTD_") && !flagEnv(t, "run")[k] {
			t.Errorf("ENV %s is not a flag of repartd run", k)
		}
	}
}

// checkpointDir is where every deployment keeps the checkpoint.
const checkpointDir = "/var/lib/repartd"
