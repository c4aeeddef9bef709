package harness

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// A tiny SVG chart writer: grouped bars and category lines, a zero-based
// y axis with round ticks, min–max whiskers, a legend. Nothing else: the
// charts in RESULTS.md must stay readable, and no plotting tool is needed
// to regenerate them.

// Series is one named row of values, aligned with a chart's categories.
// NaN values are left out. Lo and Hi, if set, draw a min–max whisker.
type Series struct {
	Name   string
	Values []float64
	Lo, Hi []float64
}

// RefLine is a dashed horizontal line with a label, e.g. a ceiling.
type RefLine struct {
	Label string
	Value float64
}

// Chart is a bar or line chart over categories (x labels, evenly spaced).
type Chart struct {
	Title      string
	XLabel     string
	YLabel     string
	Categories []string
	Series     []Series
	RefLines   []RefLine
	Lines      bool // draw lines with markers instead of grouped bars
	Width      int  // default 720
	Height     int  // default 380
}

// palette is colour-blind friendly (Okabe–Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}

const (
	marginLeft   = 78
	marginRight  = 20
	marginTop    = 58
	marginBottom = 62
)

// SVG renders the chart. It never fails: missing data draws an empty plot
// with its title, so a broken run is visible rather than silently absent.
func (c Chart) SVG() []byte {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 720
	}
	if h <= 0 {
		h = 380
	}
	plotW := float64(w - marginLeft - marginRight)
	plotH := float64(h - marginTop - marginBottom)

	top := 0.0
	for _, s := range c.Series {
		for i, v := range s.Values {
			top = maxFinite(top, v)
			if i < len(s.Hi) {
				top = maxFinite(top, s.Hi[i])
			}
		}
	}
	for _, r := range c.RefLines {
		top = maxFinite(top, r.Value)
	}
	ticks := niceTicks(top, 5)
	yMax := ticks[len(ticks)-1]
	y := func(v float64) float64 { return float64(marginTop) + plotH - v/yMax*plotH }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginLeft, esc(c.Title))

	// y grid and labels
	for _, t := range ticks {
		yy := y(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", marginLeft, yy, float64(marginLeft)+plotW, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#444">%s</text>`+"\n", marginLeft-6, yy+4, FormatNumber(t))
	}
	fmt.Fprintf(&b, `<text transform="translate(16,%.1f) rotate(-90)" text-anchor="middle" fill="#222">%s</text>`+"\n", float64(marginTop)+plotH/2, esc(c.YLabel))
	// axes
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="#444"/>`+"\n", marginLeft, marginTop, marginLeft, float64(marginTop)+plotH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444"/>`+"\n", marginLeft, float64(marginTop)+plotH, float64(marginLeft)+plotW, float64(marginTop)+plotH)

	n := len(c.Categories)
	slot := plotW / float64(max(n, 1))
	cx := func(i int) float64 { return float64(marginLeft) + slot*(float64(i)+0.5) }
	for i, cat := range c.Categories {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#222">%s</text>`+"\n", cx(i), float64(marginTop)+plotH+18, esc(cat))
	}
	if c.XLabel != "" {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#222">%s</text>`+"\n", float64(marginLeft)+plotW/2, h-14, esc(c.XLabel))
	}

	ns := len(c.Series)
	if c.Lines {
		for si, s := range c.Series {
			col := palette[si%len(palette)]
			var pts []string
			for i := 0; i < n && i < len(s.Values); i++ {
				if !finite(s.Values[i]) {
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", cx(i), y(s.Values[i])))
			}
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), col)
			}
			for i := 0; i < n && i < len(s.Values); i++ {
				v := s.Values[i]
				if !finite(v) {
					continue
				}
				whisker(&b, cx(i), s, i, y, col)
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s %s: %s</title></circle>`+"\n", cx(i), y(v), col, esc(s.Name), esc(c.Categories[i]), FormatNumber(v))
			}
		}
	} else {
		groupW := slot * 0.8
		barW := groupW / float64(max(ns, 1))
		for si, s := range c.Series {
			col := palette[si%len(palette)]
			for i := 0; i < n && i < len(s.Values); i++ {
				v := s.Values[i]
				if !finite(v) {
					continue
				}
				x0 := cx(i) - groupW/2 + barW*float64(si)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
					x0+1, y(v), math.Max(barW-2, 1), float64(marginTop)+plotH-y(v), col, esc(s.Name), esc(c.Categories[i]), FormatNumber(v))
				whisker(&b, x0+barW/2, s, i, y, "#222")
				if ns*n <= 24 { // label bars while they are few enough to stay legible
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="#222" stroke="#fff" stroke-width="3" paint-order="stroke">%s</text>`+"\n", x0+barW/2, y(hiOr(s, i))-4, FormatNumber(v))
				}
			}
		}
	}
	for _, r := range c.RefLines {
		yy := y(r.Value)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="6,4"/>`+"\n", marginLeft, yy, float64(marginLeft)+plotW, yy)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="start" font-size="11" fill="#c00" stroke="#fff" stroke-width="3" paint-order="stroke">%s</text>`+"\n", float64(marginLeft)+6, yy-4, esc(r.Label))
	}
	// legend, one row at the top
	lx := float64(marginLeft)
	for si, s := range c.Series {
		if s.Name == "" {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="32" width="12" height="12" fill="%s"/>`+"\n", lx, palette[si%len(palette)])
		fmt.Fprintf(&b, `<text x="%.1f" y="42.5">%s</text>`+"\n", lx+16, esc(s.Name))
		lx += 16 + 7*float64(len([]rune(s.Name))) + 18
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func whisker(b *bytes.Buffer, x float64, s Series, i int, y func(float64) float64, col string) {
	if i >= len(s.Lo) || i >= len(s.Hi) || !finite(s.Lo[i]) || !finite(s.Hi[i]) || s.Hi[i] <= s.Lo[i] {
		return
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x, y(s.Lo[i]), x, y(s.Hi[i]), col)
	for _, v := range []float64{s.Lo[i], s.Hi[i]} {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x-4, y(v), x+4, y(v), col)
	}
}

func hiOr(s Series, i int) float64 {
	if i < len(s.Hi) && finite(s.Hi[i]) && s.Hi[i] > s.Values[i] {
		return s.Hi[i]
	}
	return s.Values[i]
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func maxFinite(a, v float64) float64 {
	if finite(v) && v > a {
		return v
	}
	return a
}

// niceTicks returns about n+1 round tick values from 0 to at least top
// (steps of 1, 2 or 5 times a power of ten).
func niceTicks(top float64, n int) []float64 {
	if !(top > 0) {
		return []float64{0, 1}
	}
	raw := top / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := 0.0; ; v += step {
		ticks = append(ticks, v)
		if v >= top*0.999999 {
			break
		}
	}
	return ticks
}

// FormatNumber prints a figure compactly: 12.3k, 1.2M, 0.45, 87.
func FormatNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case !finite(v):
		return "n/a"
	case a >= 1e6:
		return trimZeros(strconv.FormatFloat(v/1e6, 'f', 2, 64)) + "M"
	case a >= 1e4:
		return trimZeros(strconv.FormatFloat(v/1e3, 'f', 1, 64)) + "k"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return trimZeros(strconv.FormatFloat(v, 'f', 1, 64))
	case a == 0:
		return "0"
	default:
		return trimZeros(strconv.FormatFloat(v, 'f', 2, 64))
	}
}

func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func esc(s string) string { return html.EscapeString(s) }
