package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Emulators starts and stops local emulators through scripts/emulators.sh
// with a private EMU_DIR, so stop-all only ever touches what this harness
// started.
type Emulators struct {
	Script string // scripts/emulators.sh
	Dir    string // EMU_DIR
	Log    func(format string, a ...any)
}

// Emulator is one running emulator.
type Emulator struct {
	Name string
	Kind string
	Port int
	PID  int
	Args []string
}

// URL is its endpoint.
func (e *Emulator) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", e.Port) }

// Install runs `emulators.sh install` (npm ci, once).
func (m *Emulators) Install(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, m.Script, "install")
	cmd.Env = append(os.Environ(), "EMU_DIR="+m.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("emulators.sh install: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Start starts an emulator on a free loopback port.
func (m *Emulators) Start(ctx context.Context, name, kind string, args ...string) (*Emulator, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between probe and bind
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		e := &Emulator{Name: name, Kind: kind, Port: port, Args: args}
		if err := m.start(ctx, e); err != nil {
			lastErr = err
			continue
		}
		return e, nil
	}
	return nil, lastErr
}

func (m *Emulators) start(ctx context.Context, e *Emulator) error {
	argv := append([]string{"start", e.Name, e.Kind, strconv.Itoa(e.Port)}, e.Args...)
	cmd := exec.CommandContext(ctx, m.Script, argv...)
	cmd.Env = append(os.Environ(), "EMU_DIR="+m.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("emulators.sh start %s %s: %w: %s", e.Name, e.Kind, err, strings.TrimSpace(string(out)))
	}
	b, err := os.ReadFile(filepath.Join(m.Dir, e.Name+".pid"))
	if err != nil {
		return fmt.Errorf("pid of %s: %w", e.Name, err)
	}
	e.PID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	return nil
}

// Restart stops e and starts it again on the same port: fresh, empty state.
func (m *Emulators) Restart(ctx context.Context, e *Emulator) error {
	if err := m.Stop(ctx, e); err != nil {
		return err
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = m.start(ctx, e); err == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond) // the old process may still hold the port
	}
	return err
}

// Stop stops one emulator.
func (m *Emulators) Stop(ctx context.Context, e *Emulator) error {
	if e == nil {
		return nil
	}
	cmd := exec.CommandContext(ctx, m.Script, "stop", e.Name)
	cmd.Env = append(os.Environ(), "EMU_DIR="+m.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("emulators.sh stop %s: %w: %s", e.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// StopAll stops everything started in this EMU_DIR.
func (m *Emulators) StopAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.Script, "stop-all")
	cmd.Env = append(os.Environ(), "EMU_DIR="+m.Dir)
	_ = cmd.Run()
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// kinesaliteArgs make streams ACTIVE at once and allow 1000 shards.
var kinesaliteArgs = []string{"--shardLimit", "1000", "--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0"}

// Target is where the benchmark's streams live.
type Target interface {
	// Label names the target in reports.
	Label() string
	// SourceURL and DestURL are the endpoints ("" = the SDK's chain).
	SourceURL() string
	DestURL() string
	// SourcePID and DestPID are the emulator processes (0 if unknown).
	SourcePID() int
	DestPID() int
	// FreshSource and FreshDest give the next run an empty emulator
	// (restart); on an existing endpoint they do nothing: streams are
	// unique per run instead.
	FreshSource(ctx context.Context) error
	FreshDest(ctx context.Context) error
	// Local is true when the harness runs the emulators itself.
	Local() bool
	Close()
}

// LocalTarget is two kinesalite processes: source and destination.
type LocalTarget struct {
	Emu      *Emulators
	Src, Dst *Emulator
}

// NewLocalTarget starts the source and destination kinesalite processes.
func NewLocalTarget(ctx context.Context, emu *Emulators) (*LocalTarget, error) {
	src, err := emu.Start(ctx, "bench-src", "kinesalite", kinesaliteArgs...)
	if err != nil {
		return nil, err
	}
	dst, err := emu.Start(ctx, "bench-dst", "kinesalite", kinesaliteArgs...)
	if err != nil {
		_ = emu.Stop(ctx, src)
		return nil, err
	}
	return &LocalTarget{Emu: emu, Src: src, Dst: dst}, nil
}

func (t *LocalTarget) Label() string {
	return "kinesalite 3.3.3 (source and destination in two processes)"
}
func (t *LocalTarget) SourceURL() string { return t.Src.URL() }
func (t *LocalTarget) DestURL() string   { return t.Dst.URL() }
func (t *LocalTarget) SourcePID() int    { return t.Src.PID }
func (t *LocalTarget) DestPID() int      { return t.Dst.PID }
func (t *LocalTarget) Local() bool       { return true }
func (t *LocalTarget) FreshSource(ctx context.Context) error {
	return t.Emu.Restart(ctx, t.Src)
}
func (t *LocalTarget) FreshDest(ctx context.Context) error {
	return t.Emu.Restart(ctx, t.Dst)
}
func (t *LocalTarget) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = t.Emu.Stop(ctx, t.Src)
	_ = t.Emu.Stop(ctx, t.Dst)
}

// EndpointTarget is an existing endpoint (LocalStack, kinesis-local, AWS).
type EndpointTarget struct {
	URL   string // "" = AWS through the default chain
	Name  string
	PIDFn func() int // optional: the endpoint's process, when known
}

func (t *EndpointTarget) Label() string                     { return t.Name }
func (t *EndpointTarget) SourceURL() string                 { return t.URL }
func (t *EndpointTarget) DestURL() string                   { return t.URL }
func (t *EndpointTarget) SourcePID() int                    { return 0 }
func (t *EndpointTarget) DestPID() int                      { return 0 }
func (t *EndpointTarget) Local() bool                       { return false }
func (t *EndpointTarget) FreshSource(context.Context) error { return nil }
func (t *EndpointTarget) FreshDest(context.Context) error   { return nil }
func (t *EndpointTarget) Close()                            {}
