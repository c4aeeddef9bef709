package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// lagFields returns, per message ("lag", "lag_summary"), the fields the
// relay logs on that line, read from kinesisio/lag.go, plus the fields
// every zerolog JSON line has.
func lagFields(t *testing.T) map[string][]string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(), "kinesisio", "lag.go"))
	if err != nil {
		t.Fatal(err)
	}
	// Calls chain across lines, the dot ending the line before: \.\s*.
	event := regexp.MustCompile(`(?s)\.\s*Info\(\)(.*?)\.\s*Msg\("([a-z_]+)"\)`)
	field := regexp.MustCompile(`\.\s*(?:Str|Int|Int64|Float64|Dur|Bool|Uint64|Time)\("([a-z0-9_]+)"`)
	out := map[string][]string{}
	for _, m := range event.FindAllStringSubmatch(string(src), -1) {
		msg := m[2]
		out[msg] = append(out[msg], "message", "level", "time")
		for _, f := range field.FindAllStringSubmatch(m[1], -1) {
			out[msg] = append(out[msg], f[1])
		}
	}
	for _, msg := range []string{"lag", "lag_summary"} {
		if len(out[msg]) <= 3 {
			t.Fatalf("kinesisio/lag.go: no %q line found (fields %v)", msg, out[msg])
		}
	}
	return out
}

// insightsKeywords are the words of the queries that are not fields.
var insightsKeywords = []string{"fields", "filter", "stats", "by", "as", "and", "or", "not", "bin",
	"max", "min", "avg", "sum", "count", "sort", "asc", "desc", "limit", "display", "pct", "latest", "earliest"}

// queryFields returns the message a Logs Insights query filters on and the
// log fields it reads (identifiers that are neither keywords, functions,
// aliases, @-fields, literals nor durations).
func queryFields(t *testing.T, query string) (msg string, fields []string) {
	t.Helper()
	var body strings.Builder
	for line := range strings.SplitSeq(query, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			body.WriteString(line + "\n")
		}
	}
	q := body.String()
	m := regexp.MustCompile(`filter\s+message\s*=\s*"([a-z_]+)"`).FindStringSubmatch(q)
	if m == nil {
		t.Fatalf("query filters on no message:\n%s", q)
	}
	msg = m[1]
	q = regexp.MustCompile(`"[^"]*"`).ReplaceAllString(q, " ")               // string literals
	q = regexp.MustCompile(`\b[0-9][A-Za-z0-9_.]*`).ReplaceAllString(q, " ") // numbers, durations (bin(1m))
	aliases := map[string]bool{}
	for _, a := range regexp.MustCompile(`\bas\s+([a-z_0-9]+)`).FindAllStringSubmatch(q, -1) {
		aliases[a[1]] = true
	}
	for _, id := range regexp.MustCompile(`[@A-Za-z_][A-Za-z_0-9]*`).FindAllString(q, -1) {
		if strings.HasPrefix(id, "@") || slices.Contains(insightsKeywords, id) || aliases[id] {
			continue
		}
		fields = append(fields, id)
	}
	return msg, fields
}

// usedFields collects, per message, every lag field deploy/cloudwatch and
// the metric filters read.
func usedFields(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	queries, _ := filepath.Glob(filepath.Join(repoRoot(), "deploy", "cloudwatch", "*.insights"))
	if len(queries) < 2 {
		t.Fatalf("want the per-shard and stream-wide queries in deploy/cloudwatch, found %v", queries)
	}
	for _, q := range queries {
		b, err := os.ReadFile(q)
		if err != nil {
			t.Fatal(err)
		}
		msg, f := queryFields(t, string(b))
		used[msg] = append(used[msg], f...)
	}
	var filters []metricFilter
	readJSON(t, "cloudwatch/metric-filters.json", &filters)
	ref := regexp.MustCompile(`\$\.([a-z_0-9]+)`)
	for _, f := range filters {
		m := regexp.MustCompile(`\$\.message = "([a-z_]+)"`).FindStringSubmatch(f.FilterPattern)
		if m == nil {
			t.Fatalf("filter %s matches no lag message: %s", f.FilterName, f.FilterPattern)
		}
		text := f.FilterPattern
		for _, mt := range f.MetricTransformations {
			text += " " + mt.MetricValue
			for _, d := range mt.Dimensions {
				text += " " + d
			}
		}
		for _, r := range ref.FindAllStringSubmatch(text, -1) {
			used[m[1]] = append(used[m[1]], r[1])
		}
	}
	return used
}

func TestCloudWatch_QueriesAndFiltersUseFieldsTheRelayLogs(t *testing.T) {
	logged := lagFields(t)
	readme, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	used := usedFields(t)
	if !slices.Contains(used["lag"], "shard_id") || !slices.Contains(used["lag"], "millis_behind_latest") {
		t.Errorf("no query shows lag per shard (shard_id, millis_behind_latest): %v", used["lag"])
	}
	if !slices.Contains(used["lag_summary"], "max_millis_behind_latest") || !slices.Contains(used["lag_summary"], "max_oldest_unacked_ms") {
		t.Errorf("the stream-wide maximum is not used: %v", used["lag_summary"])
	}
	for msg, fields := range used {
		have, ok := logged[msg]
		if !ok {
			t.Errorf("deploy/cloudwatch reads %q lines; kinesisio/lag.go logs only %v", msg, slices.Sorted(func(yield func(string) bool) {
				for k := range logged {
					yield(k)
				}
			}))
			continue
		}
		for _, f := range slices.Compact(slices.Sorted(slices.Values(fields))) {
			if !slices.Contains(have, f) {
				t.Errorf("deploy/cloudwatch reads %s from %q lines; kinesisio/lag.go does not log it", f, msg)
			}
			if !slices.Contains([]string{"message", "level", "time"}, f) && !strings.Contains(string(readme), "`"+f+"`") {
				t.Errorf("%s (%q lines) is not documented in README \"Lag lines\"", f, msg)
			}
		}
	}
}

// TestCloudWatch_FieldsAreInRealLagLines checks the same fields against the
// JSON lines a real `repartd run` wrote.
func TestCloudWatch_FieldsAreInRealLagLines(t *testing.T) {
	run := recordedRelay(t)
	seen := map[string]map[string]bool{}
	for _, m := range run.logs {
		msg, _ := m["message"].(string)
		if seen[msg] == nil {
			seen[msg] = map[string]bool{}
		}
		for k := range m {
			seen[msg][k] = true
		}
	}
	for msg, fields := range usedFields(t) {
		if seen[msg] == nil {
			t.Errorf("the run logged no %q line", msg)
			continue
		}
		for _, f := range fields {
			if !seen[msg][f] {
				t.Errorf("the run's %q lines have no %s", msg, f)
			}
		}
	}
}
