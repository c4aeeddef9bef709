package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfig_ExampleFileSetsEveryFlagItNames(t *testing.T) {
	fs, o := runFlags(io.Discard)
	if err := parseFlags(fs, []string{"--config", filepath.Join("..", "..", "deploy", "repartd.example.yaml")}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Source != "dms-cdc" || c.Dest != "dms-cdc-wide" || *o.checkpointDir != "/var/lib/repartd" || c.MaxInFlight != 8 ||
		c.PollInterval != 200*time.Millisecond || len(o.keys.rules) != 3 || o.keys.rules[1].Columns[1] != "line_no" {
		t.Fatalf("config not applied: %+v keys %v", c, o.keys.String())
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the example config does not validate: %v", err)
	}
}

func TestConfig_FlagsBeatEnvironmentBeatFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("source: from-file\ndest: from-file\nmax-in-flight: 3\nkey: [a.b=c]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REPARTD_DEST": "from-env", "REPARTD_MAX_IN_FLIGHT": "5", "REPARTD_CONFIG": path}
	fs, o := runFlags(io.Discard)
	if err := parseFlags(fs, []string{"--max-in-flight", "7"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if o.cfg.Source != "from-file" || o.cfg.Dest != "from-env" || o.cfg.MaxInFlight != 7 || o.keys.String() != "a.b=c" {
		t.Fatalf("source %q dest %q max-in-flight %d keys %q", o.cfg.Source, o.cfg.Dest, o.cfg.MaxInFlight, o.keys.String())
	}
}

func TestConfig_ErrorsNameTheLine(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":    {"source: s\nsorce: t\n", "line 2: unknown key \"sorce\""},
		"bad value":      {"source: s\nmax-in-flight: many\n", "line 2: max-in-flight"},
		"list for one":   {"dest: [a, b]\n", "line 1: \"dest\" takes one value"},
		"bad key rule":   {"key:\n  - nodot=id\n", "line 2: key"},
		"twice":          {"source: a\nsource: b\n", "line 2"},
		"not a mapping":  {"- a\n- b\n", "line 1: want a mapping"},
		"config in file": {"config: other.yaml\n", "line 1: unknown key \"config\""},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			fs, _ := runFlags(io.Discard)
			err := parseFlags(fs, []string{"--config", path}, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
