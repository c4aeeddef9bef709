package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

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
// line from its environment variable. Flags win over the environment.
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
