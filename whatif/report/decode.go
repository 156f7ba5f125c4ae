package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// The bounds Decode holds an upload to. A day of the shipped example
// scenario with two policies is about 60 KiB, so these leave room for
// long days, fine intervals and many streams while keeping what one
// upload can make the inspector parse and draw small.
const (
	// MaxBytes bounds the JSON document (or list of them).
	MaxBytes = 4 << 20
	// MaxReports bounds how many policies one upload compares.
	MaxReports = 8
	// MaxKeys bounds each named map: streams, queues, groups, service
	// levels, rules, instructions, and the cumulative statistics' keys.
	MaxKeys = 64
	// MaxFigureKeys bounds CI95, Diff and CI95Diff, which hold a key per
	// figure: the fixed ones, and one per service level, rule and
	// instruction.
	MaxFigureKeys = 3*MaxKeys + 16
	// MaxPoints bounds each series (a day in 10 s intervals is 8,640).
	MaxPoints = 10000
)

// ErrTooLarge is an upload over MaxBytes.
var ErrTooLarge = fmt.Errorf("report: larger than %d MiB", MaxBytes>>20)

// Decode reads what `assignd simulate -json` writes: one Report, or a JSON
// list of them (one per policy, in order). It refuses more than MaxBytes
// (ErrTooLarge), more than MaxReports, maps over their bounds, series over
// MaxPoints, and documents that are not reports, each with an error naming
// the place.
func Decode(r io.Reader) ([]Report, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("report: read: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, ErrTooLarge
	}
	data = bytes.TrimSpace(data)
	var docs []json.RawMessage
	switch {
	case len(data) == 0:
		return nil, errors.New("report: empty: want the JSON `assignd simulate -json` writes")
	case data[0] == '[':
		if docs, err = splitList(data); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	case data[0] == '{':
		docs = []json.RawMessage{data}
	default:
		return nil, errors.New("report: not a report: want one report (a JSON object) or a JSON list of them")
	}
	out := make([]Report, len(docs))
	for i, doc := range docs {
		where := "report"
		if data[0] == '[' {
			where = fmt.Sprintf("report %d (%s)", i+1, ordinal(i))
		}
		if err := decodeOne(doc, &out[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	return out, nil
}

// splitList reads a list's elements one by one, so a list of a million
// small values is refused at its (MaxReports+1)-th, not held in memory.
func splitList(data []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the '['
		return nil, jsonError(data, err)
	}
	var docs []json.RawMessage
	for dec.More() {
		if len(docs) == MaxReports {
			return nil, fmt.Errorf("more than %d reports", MaxReports)
		}
		var doc json.RawMessage
		if err := dec.Decode(&doc); err != nil {
			return nil, jsonError(data, err)
		}
		docs = append(docs, doc)
	}
	if _, err := dec.Token(); err != nil { // the ']'
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the list")
	}
	if len(docs) == 0 {
		return nil, errors.New("an empty list: want at least one report")
	}
	return docs, nil
}

// ordinal names the i-th policy as the tables do: A, B, …
func ordinal(i int) string { return string(rune('A' + i)) }

func decodeOne(doc json.RawMessage, rep *Report) error {
	// A report has at least the figures the issue lists; one without
	// "offered" is another JSON file (a policy replay, a workspace).
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(doc, &keys); err != nil {
		return jsonError(doc, err)
	}
	if _, ok := keys["offered"]; !ok {
		return errors.New(`no "offered": not what ` + "`assignd simulate -json`" + ` writes`)
	}
	if err := json.Unmarshal(doc, rep); err != nil {
		return jsonError(doc, err)
	}
	return rep.check()
}

// jsonError says where in data a syntax error is, as a line number.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset <= int64(len(data)) {
		line := 1 + bytes.Count(data[:syn.Offset], []byte("\n"))
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// check holds a decoded report to the bounds.
func (r *Report) check() error {
	if err := r.Figures.check(""); err != nil {
		return err
	}
	for _, m := range []struct {
		name string
		figs map[string]Figures
	}{{"streams", r.Streams}, {"queues", r.Queues}} {
		if len(m.figs) > MaxKeys {
			return fmt.Errorf("%s: %d, at most %d", m.name, len(m.figs), MaxKeys)
		}
		for k, f := range m.figs {
			if err := f.check(m.name + "." + k + "."); err != nil {
				return err
			}
		}
	}
	if len(r.Groups) > MaxKeys {
		return fmt.Errorf("groups: %d, at most %d", len(r.Groups), MaxKeys)
	}
	if len(r.CumulativeStatistics) > MaxKeys {
		return fmt.Errorf("cumulative_statistics: %d keys, at most %d", len(r.CumulativeStatistics), MaxKeys)
	}
	if r.Runs < 0 || r.DurationS < 0 {
		return fmt.Errorf("runs %d, duration_s %g: want neither negative", r.Runs, r.DurationS)
	}
	s := r.Series
	for _, ser := range s.named() {
		if len(ser.values) > MaxPoints {
			return fmt.Errorf("series.%s: %d points, at most %d", ser.name, len(ser.values), MaxPoints)
		}
		if len(ser.values) > 0 && !(s.IntervalS > 0) {
			return fmt.Errorf("series.interval_s is %g: want the interval's length in seconds, above 0", s.IntervalS)
		}
	}
	return nil
}

func (f *Figures) check(prefix string) error {
	for _, m := range []struct {
		name  string
		vals  map[string]float64
		limit int
	}{
		{"service_level", f.ServiceLevel, MaxKeys}, {"rules", f.Rules, MaxKeys}, {"instructions", f.Instructions, MaxKeys},
		{"ci95", f.CI95, MaxFigureKeys}, {"diff", f.Diff, MaxFigureKeys}, {"ci95_diff", f.CI95Diff, MaxFigureKeys},
	} {
		if len(m.vals) > m.limit {
			return fmt.Errorf("%s%s: %d keys, at most %d", prefix, m.name, len(m.vals), m.limit)
		}
	}
	// A threshold is a row of the table, ordered by its seconds.
	for k := range f.ServiceLevel {
		if _, err := threshold(k); err != nil {
			return fmt.Errorf("%sservice_level: %w", prefix, err)
		}
	}
	return nil
}

// threshold reads a service-level key: seconds, a finite number ≥ 0.
func threshold(k string) (float64, error) {
	v, err := strconv.ParseFloat(k, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("threshold %q: want seconds, such as \"20\"", k)
	}
	return v, nil
}
