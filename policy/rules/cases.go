package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/assignd/assignd/policy"
)

// Case is one expectation for `assignd policy test`: given these attributes,
// the policy must pick this rule and answer this instruction.
type Case struct {
	Name        string         `yaml:"name"`
	Task        map[string]any `yaml:"task"`
	Worker      map[string]any `yaml:"worker"`
	Reservation struct {
		TaskAge      int               `yaml:"task_age"`
		TaskPriority int               `yaml:"task_priority"`
		TaskQueueSid string            `yaml:"task_queue_sid"`
		WorkflowSid  string            `yaml:"workflow_sid"`
		Params       map[string]string `yaml:"params"`
	} `yaml:"reservation"`
	Expect struct {
		Rule string `yaml:"rule"`
		// Instruction is a name ("accept") or a whole instruction object.
		Instruction any   `yaml:"instruction"`
		Async       *bool `yaml:"async"`
		// Error expects evaluation to fail (the policy answers on_error).
		Error bool `yaml:"error"`
	} `yaml:"expect"`
}

// CaseResult is the outcome of one case; Diffs is empty when it passed.
type CaseResult struct {
	Name  string
	Rule  string
	Diffs []string
}

// LoadCases reads a cases file: a YAML document with a `cases` list.
func LoadCases(path string) ([]Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	var f struct {
		Cases []Case `yaml:"cases"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, c := range f.Cases {
		if c.Name == "" {
			return nil, fmt.Errorf("%s: case %d: name is required", path, i+1)
		}
	}
	return f.Cases, nil
}

// Reservation builds the reservation a case describes.
func (c *Case) reservation() *policy.Reservation {
	return &policy.Reservation{
		TaskAttributes: normalize(c.Task), WorkerAttributes: normalize(c.Worker),
		TaskAge: c.Reservation.TaskAge, TaskPriority: c.Reservation.TaskPriority,
		TaskQueueSid: c.Reservation.TaskQueueSid, WorkflowSid: c.Reservation.WorkflowSid,
		Params: c.Reservation.Params,
	}
}

// RunCases checks every case against p.
func (p *Policy) RunCases(ctx context.Context, cases []Case) []CaseResult {
	out := make([]CaseResult, 0, len(cases))
	for _, c := range cases {
		out = append(out, p.runCase(ctx, c))
	}
	return out
}

func (p *Policy) runCase(ctx context.Context, c Case) CaseResult {
	res := CaseResult{Name: c.Name}
	d, err := p.Decide(ctx, c.reservation())
	if c.Expect.Error {
		if err == nil {
			res.Diffs = append(res.Diffs, fmt.Sprintf("error: got none (rule %s), want an evaluation error", d.Rule))
		}
		return res
	}
	if err != nil {
		res.Diffs = append(res.Diffs, "error: "+err.Error())
		return res
	}
	res.Rule = d.Rule
	if c.Expect.Rule != "" && d.Rule != c.Expect.Rule {
		res.Diffs = append(res.Diffs, fmt.Sprintf("rule: got %s, want %s", d.Rule, c.Expect.Rule))
	}
	if c.Expect.Async != nil && d.Async != *c.Expect.Async {
		res.Diffs = append(res.Diffs, fmt.Sprintf("async: got %v, want %v", d.Async, *c.Expect.Async))
	}
	got := policy.Later
	if d.Instruction != nil {
		b, _ := json.Marshal(d.Instruction)
		got = string(b)
	}
	switch want := c.Expect.Instruction.(type) {
	case nil:
	case string:
		if name := d.InstructionName(); name != want {
			res.Diffs = append(res.Diffs, fmt.Sprintf("instruction: got %s, want %s", got, want))
		}
	default:
		wantJSON, err := canonical(normalizeValue(want))
		if err != nil {
			res.Diffs = append(res.Diffs, "expect.instruction: "+err.Error())
		} else if gotJSON, _ := canonical(d.Instruction); gotJSON != wantJSON {
			res.Diffs = append(res.Diffs, fmt.Sprintf("instruction:\n      got  %s\n      want %s", gotJSON, wantJSON))
		}
	}
	return res
}

// canonical renders v as JSON with sorted keys, for comparison.
func canonical(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	b, err = json.Marshal(m) // maps marshal with sorted keys
	return string(b), err
}

// normalize makes YAML-decoded attributes look like JSON-decoded ones
// (float64 numbers), which is what the policy sees from TaskRouter.
func normalize(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func normalizeValue(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// FormatSteps renders Explain's steps one line each.
func FormatSteps(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		switch {
		case s.Matched:
			fmt.Fprintf(&b, "  %-32s MATCH\n", s.Rule)
		case s.Err != "":
			fmt.Fprintf(&b, "  %-32s ERROR: %s\n", s.Rule, s.Err)
		case s.Missing != "":
			fmt.Fprintf(&b, "  %-32s no match (attribute missing: %s)\n", s.Rule, s.Missing)
		default:
			fmt.Fprintf(&b, "  %-32s no match\n", s.Rule)
		}
	}
	return b.String()
}
