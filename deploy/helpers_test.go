package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// binary is repartd built by the Dockerfile's own build command (TestMain);
// buildErr says why not.
var binary, buildErr string

const (
	testVersion = "v0.0.0-dockertest"
	testCommit  = "dockertest-commit"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "repartd-deploy")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "repartd")
	if err := buildAsDockerfile(binary); err != nil {
		buildErr = err.Error()
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needBinary fails the test when the Dockerfile's build did not work.
func needBinary(t *testing.T) {
	t.Helper()
	if buildErr != "" {
		t.Fatalf("the Dockerfile's build command failed: %s", buildErr)
	}
}

// repoRoot is the module root: this package is deploy/.
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

// ---------------------------------------------------------- Dockerfile

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd   string // upper case: FROM, RUN, ...
	flags []string
	args  string // the rest, flags removed
	line  int
}

// parseDockerfile splits a Dockerfile into instructions. Enough for ours:
// comments, blank lines, backslash continuations, --flags.
func parseDockerfile(text string) (ins []instruction, comments []string) {
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			comments = append(comments, line)
			continue
		}
		if line == "" && cur.Len() == 0 {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		in := instruction{cmd: strings.ToUpper(cmd), line: start}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			f, r, _ := strings.Cut(rest, " ")
			in.flags = append(in.flags, f)
			rest = strings.TrimSpace(r)
		}
		in.args = rest
		ins = append(ins, in)
		cur.Reset()
	}
	return ins, comments
}

func readDockerfile(t testing.TB) ([]instruction, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ins, comments := parseDockerfile(string(b))
	return ins, comments
}

// buildCommand returns the Dockerfile's `go build` RUN command with its
// output moved to out: the only change made to it.
func buildCommand(ins []instruction, out string) (string, error) {
	var cmds []string
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			cmds = append(cmds, in.args)
		}
	}
	if len(cmds) != 1 {
		return "", fmt.Errorf("want one RUN with go build, found %d", len(cmds))
	}
	const dst = "-o /out/repartd "
	if strings.Count(cmds[0], dst) != 1 {
		return "", fmt.Errorf("build command %q: want exactly one %q", cmds[0], dst)
	}
	return strings.Replace(cmds[0], dst, "-o "+out+" ", 1), nil
}

// buildAsDockerfile runs the Dockerfile's build command here, with the
// build args docker would pass, then checks that the binary is static.
func buildAsDockerfile(out string) error {
	text, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "Dockerfile"))
	if err != nil {
		return err
	}
	ins, _ := parseDockerfile(string(text))
	cmdline, err := buildCommand(ins, out)
	if err != nil {
		return err
	}
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "TARGETOS=linux", "TARGETARCH="+runtime.GOARCH,
		"VERSION="+testVersion, "COMMIT="+testCommit)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sh -c %q: %v\n%s", cmdline, err, b)
	}
	return checkStatic(out)
}

// checkStatic fails for an ELF file that needs a dynamic loader: a
// distroless/static image has none.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s is dynamically linked (%s program header)", path, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
	}
	return nil
}

// ------------------------------------------------------------- flags

var envTwin = regexp.MustCompile(`^\s+--([a-z0-9-]+)\s+\[(REPARTD_[A-Z0-9_]+)\]`)

// flagEnv lists the REPARTD_* variables `repartd ARGS... -h` documents,
// from the binary's own usage text.
func flagEnv(t *testing.T, args ...string) map[string]bool {
	t.Helper()
	needBinary(t)
	cmd := exec.Command(binary, append(slices.Clone(args), "-h")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("repartd %v -h: %v\n%s", args, err, out.String())
	}
	vars := map[string]bool{}
	for line := range strings.SplitSeq(out.String(), "\n") {
		if m := envTwin.FindStringSubmatch(line); m != nil {
			vars[m[2]] = true
		}
	}
	if len(vars) == 0 {
		t.Fatalf("repartd %v -h lists no flags:\n%s", args, out.String())
	}
	return vars
}

// flagDefault returns a flag's default as `repartd ARGS... -h` prints it.
func flagDefault(t *testing.T, flag string, args ...string) string {
	t.Helper()
	needBinary(t)
	out, _ := exec.Command(binary, append(slices.Clone(args), "-h")...).CombinedOutput()
	re := regexp.MustCompile(`(?m)^\s+--` + regexp.QuoteMeta(flag) + `\s.*\n\t.*\(default ([^)]*)\)$`)
	m := re.FindSubmatch(out)
	if m == nil {
		t.Fatalf("repartd %v -h shows no default for --%s:\n%s", args, flag, out)
	}
	return string(m[1])
}
