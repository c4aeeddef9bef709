package main

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"os"
	"strings"
)

// writeHTMLReport writes the report as one self-contained HTML page: inline
// CSS and SVG charts, no scripts, nothing fetched. Every name is escaped
// by html/template (and by escapeSVG inside the charts).
func writeHTMLReport(path string, r analysisReport) error {
	var buf bytes.Buffer
	if err := htmlReport.Execute(&buf, r); err != nil {
		return fmt.Errorf("render html report: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"int":          fmtInt,
	"rate":         fmtRate,
	"bytesRate":    fmtBytesRate,
	"pct":          pct,
	"ops":          opsMix,
	"table":        func(schema, table string) string { return tableLabel(schema, table) },
	"f1":           func(f float64) string { return fmtFloat(f, 1) },
	"f2":           func(f float64) string { return fmtFloat(f, 2) },
	"join":         strings.Join,
	"sourceSVG":    sourceShardsSVG,
	"tablesSVG":    tablesSVG,
	"hotKeysSVG":   hotKeysSVG,
	"spreadSVG":    spreadSVG,
	"sorted":       sortedKeys[int],
	"lookup":       func(m map[string]int, k string) int { return m[k] },
	"add":          func(a, b int) int { return a + b },
	"bytesRateInt": func(n int) string { return fmtBytesRate(float64(n)) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>repartd analyze: {{.Stream}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#1d2330}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #dde;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}
th,td{padding:.25em .7em;text-align:left;border-bottom:1px solid #eef} th{background:#f5f6fa;font-weight:600}
td.n,th.n{text-align:right} code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
.hot{color:#b3261e;font-weight:600} .ok{color:#1e7d32} .muted{color:#667}
.card{display:inline-block;margin:.3em 1.2em .3em 0} .card b{display:block;font-size:1.3em}
ul.actions li{margin:.4em 0} svg{display:block;margin:.6em 0;max-width:100%;height:auto}
</style>
</head>
<body>
<h1>repartd analyze: <code>{{.Stream}}</code></h1>
<p class="muted">from {{.From}} · ended: {{.Ended}} · window {{f1 .WindowS}} s{{if not .FirstArrival.IsZero}} · arrivals {{.FirstArrival.Format "2006-01-02 15:04:05Z"}} to {{.LastArrival.Format "2006-01-02 15:04:05Z"}}{{end}}</p>
<div>
<span class="card">records<b>{{int .Records}}</b></span>
<span class="card">mean<b>{{rate .RecordsPerS}} rec/s</b></span>
<span class="card">mean<b>{{bytesRate .BytesPerS}}</b></span>
<span class="card">busiest second<b>{{rate .PeakRecordsPerS}} rec/s</b></span>
<span class="card">busiest second<b>{{bytesRate .PeakBytesPerS}}</b></span>
<span class="card">destination shards<b>{{int .Recommendation.DestShards}}</b></span>
</div>

<h2>Recommendation</h2>
<ul class="actions">{{range .Recommendation.Actions}}<li>{{.}}</li>{{end}}</ul>
{{with .Notes}}<p class="muted">Notes:</p><ul>{{range .}}<li class="muted">{{.}}</li>{{end}}</ul>{{end}}

<h2>Source shards</h2>
<p>Write limits per shard: {{int .Limits.ShardRecordsPerS}} rec/s and {{bytesRateInt .Limits.ShardBytesPerS}} (data + partition key). Bars: each shard's busiest second as a share of the limit; lines at {{pct .Limits.HotShare}} (hot) and 100%.</p>
{{sourceSVG .}}
<table><tr><th>shard</th><th>state</th><th class="n">records</th><th class="n">rec/s</th><th class="n">peak rec/s</th><th class="n">bytes/s</th><th class="n">peak bytes/s</th><th class="n">busiest second vs limit</th></tr>
{{range .SourceShards}}<tr><td><code>{{.ShardID}}</code></td><td>{{.State}}</td><td class="n">{{int .Records}}</td><td class="n">{{rate .RecordsPerS}}</td><td class="n">{{rate .PeakRecordsPerS}}</td><td class="n">{{bytesRate .BytesPerS}}</td><td class="n">{{bytesRate .PeakBytesPerS}}</td><td class="n{{if .Hot}} hot{{end}}">{{pct .PeakShare}}{{if .Hot}} HOT{{end}}</td></tr>
{{end}}</table>

<h2>DMS partitioning</h2>
<p>partition-key-type: {{range $i, $k := sorted .Partitioning.KeyTypes}}{{if $i}} · {{end}}<code>{{$k}}</code> {{int (lookup $.Partitioning.KeyTypes $k)}}{{else}}(none seen){{end}}</p>
<p>Source partition keys: <b>{{int .Partitioning.SourceKeys}}</b> (the most common carries {{pct .Partitioning.TopSourceKeyShare}} of records): {{.Partitioning.Meaning}}</p>
{{with .Partitioning.Advice}}<p class="hot">{{.}}</p>{{end}}

<h2>Tables</h2>
{{tablesSVG .}}
<table><tr><th>table</th><th class="n">records</th><th class="n">share</th><th class="n">rec/s</th><th class="n">bytes/s</th><th class="n">keys</th><th>key</th><th>operations</th></tr>
{{range .Tables}}<tr><td>{{table .Schema .Table}}</td><td class="n">{{int (add .Records .ControlRecords)}}</td><td class="n">{{pct .Share}}</td><td class="n">{{rate .RecordsPerS}}</td><td class="n">{{bytesRate .BytesPerS}}</td><td class="n">{{int .Keys}}</td><td{{if .Fallback}} class="hot"{{end}}>{{.KeySource}}{{with .KeyColumns}} ({{join . ","}}){{end}}</td><td>{{ops .Operations}}</td></tr>
{{end}}</table>

<h2>Hottest rows</h2>
<p class="muted">A row is its table and its 16-hex routing key (contract v1); its values are never shown. Strict ordering moves one record per key per PutRecords round trip: {{rate .Limits.StrictKeyMaxPerS}} rec/s at {{rate .Limits.RoundTripMs}} ms.</p>
{{hotKeysSVG .}}
<table><tr><th class="n">#</th><th>table</th><th>key</th><th class="n">share</th><th class="n">records</th><th class="n">rec/s</th><th class="n">peak rec/s</th><th class="n">dest shard</th><th>vs strict cap</th></tr>
{{range .HotKeys}}<tr><td class="n">{{.Rank}}</td><td>{{table .Schema .Table}}</td><td><code>{{.Key}}</code></td><td class="n">{{pct .Share}}</td><td class="n">{{int .Records}}</td><td class="n">{{rate .RecordsPerS}}</td><td class="n">{{rate .PeakRecordsPerS}}</td><td class="n">{{.DestShard}}</td><td>{{if .OverStrictCap}}<span class="hot">over</span>{{else if .BurstsOverStrictCap}}<span class="hot">bursts over</span>{{else}}<span class="ok">below</span>{{end}}</td></tr>
{{end}}</table>
<p>{{int .Keys}} distinct keys in the window.</p>

<h2>Projected spread over {{int .Projection.Shards}} destination shards ({{.Projection.Basis}})</h2>
<p class="muted">Keyed by contract v1: ExplicitHashKey = key&lt;&lt;64 | key over {{int .Projection.Shards}} even hash ranges. Bars: each shard's busiest second as a share of the per-shard limit; lines at {{pct .Limits.TargetShare}} (sizing target) and 100%.</p>
{{spreadSVG .}}
<p>max/mean {{f2 .Projection.MaxMeanRatio}} · {{int .Projection.ShardsUsed}} of {{int .Projection.Shards}} shards carry rows · busiest shard-second {{rate .Projection.PeakRecordsPerS}} rec/s, {{bytesRate .Projection.PeakBytesPerS}} ({{pct .Projection.PeakShare}} of a limit) · {{int .Projection.HotShards}} shards over {{pct .Limits.HotShare}}</p>
<p class="muted">Generated by repartd analyze. Bytes are data plus partition key, as Kinesis counts them.</p>
</body>
</html>
`))

// chart geometry shared by the horizontal bar charts.
const (
	chartW     = 900
	labelW     = 260
	rowH       = 22
	chartRight = 70 // room for the value text
)

// hbar is one labelled bar of a horizontal chart; frac is its length as a
// share of the axis.
type hbar struct {
	label, value string
	frac         float64
	hot          bool
}

// hbarsSVG draws horizontal bars with optional vertical marks (at shares
// of the axis, labelled).
func hbarsSVG(title string, bars []hbar, marks map[string]float64) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	h := len(bars)*rowH + 50
	plot := float64(chartW - labelW - chartRight)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, h, chartW, h, escapeSVG(title))
	fmt.Fprintf(&b, `<text x="0" y="14" font-size="13" font-weight="600">%s</text>`, escapeSVG(title))
	for i, bar := range bars {
		y := 24 + i*rowH
		w := plot * math.Max(0, math.Min(bar.frac, 1))
		color := "#4a6fa5"
		if bar.hot {
			color = "#c0392b"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end">%s</text>`, labelW-8, y+14, escapeSVG(bar.label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#eef1f6"/>`, labelW, y+3, plot, rowH-6)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y+3, w, rowH-6, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12">%s</text>`, float64(labelW)+plot+6, y+14, escapeSVG(bar.value))
	}
	for name, at := range marks {
		if at < 0 || at > 1 {
			continue
		}
		x := float64(labelW) + plot*at
		fmt.Fprintf(&b, `<line x1="%.1f" y1="20" x2="%.1f" y2="%d" stroke="#333" stroke-dasharray="4 3"/>`, x, x, h-18)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, x, h-5, escapeSVG(name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text went through escapeSVG
}

// axisFor returns an axis end covering both the largest value and the
// marks, so a limit line is always visible.
func axisFor(most float64, marks ...float64) float64 {
	for _, m := range marks {
		most = math.Max(most, m)
	}
	return math.Max(most*1.05, 1e-9)
}

func sourceShardsSVG(r analysisReport) template.HTML {
	most := 0.0
	for _, s := range r.SourceShards {
		most = math.Max(most, s.PeakShare)
	}
	axis := axisFor(most, 1)
	var bars []hbar
	for _, s := range r.SourceShards {
		bars = append(bars, hbar{label: s.ShardID, value: pct(s.PeakShare), frac: s.PeakShare / axis, hot: s.Hot})
	}
	return hbarsSVG("Source shards: busiest second, share of the per-shard write limit", bars,
		map[string]float64{pct(hotShare): hotShare / axis, "limit": 1 / axis})
}

func tablesSVG(r analysisReport) template.HTML {
	most := 0.0
	for _, t := range r.Tables {
		most = math.Max(most, t.RecordsPerS)
	}
	axis := axisFor(most)
	var bars []hbar
	for _, t := range r.Tables {
		bars = append(bars, hbar{label: tableLabel(t.Schema, t.Table), value: fmtRate(t.RecordsPerS) + " rec/s", frac: t.RecordsPerS / axis, hot: t.Fallback})
	}
	return hbarsSVG("Tables: records/s (red: table-level key)", bars, nil)
}

func hotKeysSVG(r analysisReport) template.HTML {
	strictCap := r.Limits.StrictKeyMaxPerS
	most := 0.0
	for _, h := range r.HotKeys {
		most = math.Max(most, h.PeakRecordsPerS)
	}
	axis := axisFor(most, strictCap)
	var bars []hbar
	for _, h := range r.HotKeys {
		bars = append(bars, hbar{label: tableLabel(h.Schema, h.Table) + " " + h.Key, value: fmtRate(h.PeakRecordsPerS) + " rec/s",
			frac: h.PeakRecordsPerS / axis, hot: h.BurstsOverStrictCap})
	}
	return hbarsSVG("Hottest rows: busiest second, records/s", bars, map[string]float64{"strict cap " + fmtRate(strictCap) + "/s": strictCap / axis})
}

// spreadSVG draws one vertical bar per destination shard: its busiest
// second's share of the limit, with its mean inside.
func spreadSVG(r analysisReport) template.HTML {
	p := r.Projection
	if len(p.PerShard) == 0 {
		return ""
	}
	const h, top, bottom, left = 260, 24, 30, 80
	plotW := float64(chartW - left - 10)
	plotH := float64(h - top - bottom)
	most := 0.0
	for _, s := range p.PerShard {
		most = math.Max(most, s.PeakShare)
	}
	axis := axisFor(most, 1)
	bw := plotW / float64(len(p.PerShard))
	var b strings.Builder
	title := fmt.Sprintf("Destination shards (%d): busiest second and mean, share of the per-shard limit", p.Shards)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, h, chartW, h, escapeSVG(title))
	fmt.Fprintf(&b, `<text x="0" y="14" font-size="13" font-weight="600">%s</text>`, escapeSVG(title))
	y := func(share float64) float64 { return float64(top) + plotH*(1-math.Min(share/axis, 1)) }
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="#f7f8fb"/>`, left, top, plotW, plotH)
	for i, s := range p.PerShard {
		x := float64(left) + float64(i)*bw
		gap := math.Min(2, bw*0.2)
		color := "#9db4d6"
		if s.PeakShare > hotShare {
			color = "#e08a80"
		}
		mean := share(s.RecordsPerS, s.BytesPerS)
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>shard %d: busiest second %s, mean %s</title></rect>`,
			x+gap/2, y(s.PeakShare), bw-gap, float64(top)+plotH-y(s.PeakShare), color, s.Shard, pct(s.PeakShare), pct(mean))
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="#2f4f7f"/>`,
			x+gap/2, y(mean), bw-gap, float64(top)+plotH-y(mean))
		if len(p.PerShard) <= 32 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%d</text>`, x+bw/2, h-bottom+12, s.Shard)
		}
	}
	for _, m := range []struct {
		name string
		at   float64
	}{{"target " + pct(targetShare), targetShare}, {"limit", 1}} {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333" stroke-dasharray="4 3"/>`, left, y(m.at), float64(left)+plotW, y(m.at))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>`, left-4, y(m.at)+4, escapeSVG(m.name))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">shard (light: busiest second · dark: mean)</text>`, left, h-4)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text went through escapeSVG
}

// escapeSVG escapes text for SVG inside HTML.
func escapeSVG(s string) string { return template.HTMLEscapeString(s) }
