package harness

import (
	"math"
	"slices"
	"strconv"
)

// Summary is a figure measured several times: the median is the figure,
// min and max show the spread. Values keeps every measurement, in run
// order, so a reader can recompute anything.
type Summary struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	N      int       `json:"n"`
	Values []float64 `json:"values"`
}

// Summarize returns the median, min and max of vs, ignoring NaNs. An empty
// input gives a zero Summary (N == 0), which reports print as "n/a".
func Summarize(vs []float64) Summary {
	clean := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			clean = append(clean, v)
		}
	}
	s := Summary{N: len(clean), Values: slices.Clone(clean)}
	if len(clean) == 0 {
		s.Values = []float64{}
		return s
	}
	sorted := slices.Clone(clean)
	slices.Sort(sorted)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.Median = Percentile(sorted, 50)
	return s
}

// Percentile returns the p-th percentile (0..100) of sorted values with
// linear interpolation between closest ranks (the "R-7" definition used by
// numpy and spreadsheets). sorted must be in ascending order.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return math.NaN()
	case n == 1:
		return sorted[0]
	}
	p = min(max(p, 0), 100)
	pos := p / 100 * float64(n-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, n-1)
	frac := pos - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

// Ratio is a/b, or NaN when b is zero or either is missing.
func Ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// PerMillion converts a cost over n records to the cost per 1,000,000.
func PerMillion(cost float64, n int64) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return cost / float64(n) * 1e6
}

func nanValue() float64 { return math.NaN() }

// Num is a float64 figure that may be missing: JSON has no NaN, so a NaN
// or infinite Num encodes as null, and null decodes as NaN.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = Num(f)
	return err
}
