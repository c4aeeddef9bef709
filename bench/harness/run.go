package harness

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Run is one harness invocation: build, start what is needed, run the
// workloads, stop everything, write results JSON and regenerate the report.
func Run(ctx context.Context, cfg Config, logf func(string, ...any)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Mode == "report" {
		return WriteReport(cfg)
	}
	t0 := time.Now()
	InitClockTicks(ctx)
	if err := os.MkdirAll(filepath.Join(cfg.Work, "logs"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return err
	}
	commit, dirty := GitState(ctx, cfg.Repo)
	res := &Results{Meta: Meta{
		Name: cfg.ResultsName(), Command: cfg.Command, Args: os.Args[1:], Commit: commit, Dirty: dirty,
		Date: t0.UTC(), Machine: DescribeMachine(ctx), GoVersion: runtime.Version(), Quick: cfg.Quick, Reps: cfg.Reps,
		LoadAvgStart: Num(LoadAvg1()),
	}, Timings: map[string]float64{}}

	setAWSEnv(cfg.Endpoint)
	e := &Env{Cfg: cfg, Logf: logf}
	if cfg.NeedsTarget() {
		stop, err := e.startTarget(ctx, res, commit)
		if err != nil {
			return err
		}
		// Stop order: 2. delete streams on an endpoint; 3. stop emulators.
		defer stop()
	} else {
		res.Meta.Target, res.Meta.TargetLabel = "none", "in-process fake Kinesis"
	}
	remote := func() bool { return e.Target != nil && !e.Target.Local() }

	step := func(name string, f func() error) {
		if ctx.Err() != nil || !cfg.Runs(name) {
			return
		}
		logf("== %s", name)
		s := time.Now()
		if err := f(); err != nil {
			logf("%s failed: %v", name, err)
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", name, err))
		}
		res.Timings[name] = time.Since(s).Seconds()
		logf("== %s done in %s", name, time.Since(s).Round(time.Second))
		if remote() {
			e.DeleteAll(context.WithoutCancel(ctx))
		}
	}
	ceiling := 0.0
	switch cfg.Mode {
	case "bench":
		if !remote() { // machine-only figures: `make bench` has them
			step("micro", func() (err error) { res.Micro, err = e.RunMicro(ctx); return })
			step("inproc", func() (err error) { res.InProc, err = e.RunInProc(ctx); return })
		}
		var batches [][]types.PutRecordsRequestEntry
		step("ceiling", func() (err error) {
			res.Ceiling, batches, err = e.RunCeiling(ctx)
			if res.Ceiling != nil {
				for _, t := range res.Ceiling.Tuning {
					ceiling = max(ceiling, float64(t.RecordsPerS))
				}
			}
			return
		})
		step("relay", func() (err error) {
			res.Relay, err = e.RunRelay(ctx, res.Ceiling, batches)
			if res.Ceiling != nil && res.Ceiling.RecordsPerS.N > 0 {
				ceiling = res.Ceiling.RecordsPerS.Median
			}
			return
		})
		step("latency", func() (err error) { res.Latency, err = e.RunLatency(ctx, ceiling); return })
		step("hotkeys", func() (err error) { res.HotKeys, err = e.RunHotKeys(ctx, ceiling); return })
		step("scaling", func() (err error) { res.Scaling, err = e.RunScaling(ctx, ceiling); return })
		if (cfg.Sizes.Profile || slices.Contains(cfg.Only, "profile")) && e.Target != nil && e.Target.Local() {
			step("profile", func() (err error) { res.Profile, err = e.RunProfile(ctx, ceiling); return })
		}
	case "peers":
		step("peers", func() (err error) { res.Peers, err = e.RunPeers(ctx); return })
	}
	if ctx.Err() != nil {
		res.Errors = append(res.Errors, "interrupted: "+ctx.Err().Error())
	}
	res.Meta.WallS = time.Since(t0).Seconds()
	res.Meta.LoadAvgEnd = Num(LoadAvg1())
	out := res
	if len(cfg.Only) > 0 { // a partial run updates its sections of the existing file
		if prev, err := ReadResultsFile(filepath.Join(cfg.OutDir, res.Meta.Name+".json")); err == nil {
			prev.Merge(res, cfg.Only)
			out = prev
			logf("merged %v into the existing %s.json", cfg.Only, res.Meta.Name)
		}
	}
	path, err := out.WriteJSON(cfg.OutDir)
	if err != nil {
		return err
	}
	logf("wrote %s", path)
	if err := WriteReport(cfg); err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d workload(s) failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return nil
}

// startTarget builds the binaries and starts the target (local emulators,
// or an existing endpoint) and its clients; stop deletes the streams made
// on an endpoint and stops the emulators.
func (e *Env) startTarget(ctx context.Context, res *Results, commit string) (func(), error) {
	bin := filepath.Join(e.Cfg.Work, "bin")
	ldflags := fmt.Sprintf("-X main.commit=%s", commit)
	e.Repartd, e.FaultProxy = e.Cfg.RepartdBin, e.Cfg.FaultProxyBin
	for _, b := range []struct {
		out, pkg string
		dst      *string
	}{{"repartd", "./cmd/repartd", &e.Repartd}, {"kinesis-faultproxy", "./cmd/kinesis-faultproxy", &e.FaultProxy}} {
		if *b.dst != "" {
			continue
		}
		e.Logf("building %s from the work tree", b.pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", ldflags, "-o", filepath.Join(bin, b.out), b.pkg)
		cmd.Dir = e.Cfg.Repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w: %s", b.pkg, err, out)
		}
		*b.dst = filepath.Join(bin, b.out)
	}

	// 1. the target: local emulators, or an existing endpoint
	e.Emu = &Emulators{Script: filepath.Join(e.Cfg.Repo, "scripts", "emulators.sh"), Dir: filepath.Join(e.Cfg.Work, "emulators"), Log: e.Logf}
	if e.Cfg.Endpoint == "" {
		if err := e.Emu.Install(ctx); err != nil {
			return nil, err
		}
		t, err := NewLocalTarget(ctx, e.Emu)
		if err != nil {
			e.Emu.StopAll()
			return nil, err
		}
		e.Target = t
		res.Meta.Target, res.Meta.TargetLabel = "kinesalite", t.Label()
	} else {
		u := e.Cfg.Endpoint
		if u == "aws" {
			u = ""
		}
		e.Target = &EndpointTarget{URL: u, Name: e.Cfg.Label}
		res.Meta.Target, res.Meta.TargetLabel = e.Cfg.Endpoint, e.Cfg.Label
	}
	stop := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if !e.Target.Local() {
			e.DeleteAll(cctx)
		}
		e.Target.Close()
		e.Emu.StopAll()
	}
	var err error
	if e.Src, err = Client(ctx, e.Target.SourceURL(), 64); err != nil {
		stop()
		return nil, err
	}
	if e.Dst, err = Client(ctx, e.Target.DestURL(), 64); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// WriteReport regenerates the report and charts from every results file
// in the output directory.
func WriteReport(cfg Config) error {
	all, err := ReadResults(cfg.OutDir)
	if err != nil {
		return err
	}
	prefix, err := filepath.Rel(filepath.Dir(cfg.Report), cfg.OutDir)
	if err != nil || prefix == "." {
		prefix = ""
	} else {
		prefix += "/"
	}
	opt := RenderOptions{ChartPrefix: prefix}
	if !cfg.Quick {
		opt.Notes, _ = os.ReadFile(filepath.Join(cfg.Repo, "bench", "notes.md"))
	}
	rep := Render(all, opt)
	// Charts of sections no longer in any results file would mislead.
	old, _ := filepath.Glob(filepath.Join(cfg.OutDir, "*.svg"))
	for _, p := range old {
		if _, ok := rep.Charts[filepath.Base(p)]; !ok {
			_ = os.Remove(p)
		}
	}
	for name, svg := range rep.Charts {
		if err := os.WriteFile(filepath.Join(cfg.OutDir, name), svg, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(cfg.Report, rep.Markdown, 0o644)
}

// setAWSEnv configures the SDK chain for the harness and every child: a
// local emulator gets static credentials and a region; an endpoint URL
// keeps the user's credentials if set (LocalStack accepts any); "aws"
// leaves the chain alone.
func setAWSEnv(endpoint string) {
	setDefault := func(k, v string) {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	switch endpoint {
	case "":
		for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_DYNAMODB"} {
			os.Unsetenv(k)
		}
		os.Setenv("AWS_REGION", "us-east-1")
		os.Setenv("AWS_ACCESS_KEY_ID", "bench")
		os.Setenv("AWS_SECRET_ACCESS_KEY", "bench")
		os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	case "aws":
		setDefault("AWS_REGION", "us-east-1")
	default:
		setDefault("AWS_REGION", "us-east-1")
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			os.Setenv("AWS_ACCESS_KEY_ID", "test")
			os.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		}
		setDefault("AWS_EC2_METADATA_DISABLED", "true")
	}
}

// LabelFor names an endpoint for its results file: the host and port, or
// "aws".
func LabelFor(endpoint string) string {
	if endpoint == "aws" {
		return "aws"
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "endpoint"
	}
	return strings.NewReplacer(":", "-", ".", "-").Replace(u.Host)
}
