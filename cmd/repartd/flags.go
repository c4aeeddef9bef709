package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/repartd/repartd/repartition"
)

// envName is the environment twin of a flag: --max-in-flight is
// REPARTD_MAX_IN_FLIGHT.
func envName(flagName string) string {
	return "REPARTD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlags returns a FlagSet whose usage names each flag's env twin.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: repartd %s\n\n%s\n\nflags (each also read from its environment variable):\n", name, synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "[]" {
				def = " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(stderr, "  --%s  [%s]\n\t%s%s\n", f.Name, envName(f.Name), f.Usage, def)
		})
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command
// line from its environment variable, then (for commands with a --config
// flag) from the YAML config file. Flags win over the environment, which
// wins over the file.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v := getenv(envName(f.Name))
		if v == "" {
			return
		}
		set[f.Name] = true
		if kf, ok := f.Value.(*keyFlag); ok {
			for r := range strings.FieldsFuncSeq(v, func(c rune) bool { return c == ';' || c == '\n' }) {
				if err := kf.Set(r); err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", envName(f.Name), err))
				}
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: %v", envName(f.Name), v, err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if cf := fs.Lookup("config"); cf != nil && cf.Value.String() != "" {
		return applyConfigFile(fs, cf.Value.String(), set)
	}
	return nil
}

// applyConfigFile sets, from a YAML file, every flag not already set. Its
// keys are the flag names; a repeatable flag (key) takes a list. Unknown
// keys and bad values are errors that name the line.
func applyConfigFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s line %d: want a mapping of flag names to values", path, root.Line)
	}
	var errs []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		f := fs.Lookup(name)
		switch {
		case f == nil || name == "config":
			errs = append(errs, fmt.Sprintf("line %d: unknown key %q", k.Line, name))
			continue
		case seen[name]:
			errs = append(errs, fmt.Sprintf("line %d: %q given twice", k.Line, name))
			continue
		}
		seen[name] = true
		if set[name] {
			continue // the command line or environment wins
		}
		var values []*yaml.Node
		switch v.Kind {
		case yaml.ScalarNode:
			values = []*yaml.Node{v}
		case yaml.SequenceNode:
			if _, repeatable := f.Value.(*keyFlag); !repeatable {
				errs = append(errs, fmt.Sprintf("line %d: %q takes one value, not a list", v.Line, name))
				continue
			}
			values = v.Content
		default:
			errs = append(errs, fmt.Sprintf("line %d: %q: want a value", v.Line, name))
			continue
		}
		for _, item := range values {
			if item.Kind != yaml.ScalarNode {
				errs = append(errs, fmt.Sprintf("line %d: %q: want a plain value", item.Line, name))
				continue
			}
			if err := f.Value.Set(item.Value); err != nil {
				errs = append(errs, fmt.Sprintf("line %d: %s: %v", item.Line, name, err))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("config %s: %s", path, strings.Join(errs, "; "))
	}
	return nil
}

// keyFlag collects repeatable --key SCHEMA.TABLE=COL[,COL...] rules. Its
// environment twin REPARTD_KEY holds several rules separated by ';'.
type keyFlag struct{ rules []repartition.KeyRule }

func (k *keyFlag) String() string {
	if k == nil || len(k.rules) == 0 {
		return ""
	}
	s := make([]string, len(k.rules))
	for i, r := range k.rules {
		s[i] = r.String()
	}
	return strings.Join(s, ";")
}

func (k *keyFlag) Set(v string) error {
	r, err := repartition.ParseKeyRule(v)
	if err != nil {
		return err
	}
	k.rules = append(k.rules, r)
	return nil
}

func (k *keyFlag) keyRules() (*repartition.KeyRules, error) {
	return repartition.NewKeyRules(k.rules)
}

const keyUsage = "key columns of a table, SCHEMA.TABLE=COL[,COL...]; repeatable; * for any schema or table; most specific wins (exact, schema.*, *.table, *.*); beats columns learned from DMS create-table control records"
