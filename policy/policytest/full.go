// Package policytest builds instructions for tests from the field
// definitions in package policy, so a new field is exercised without
// touching any test.
package policytest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/assignd/assignd/policy"
)

// Sample is a valid value for f, as it appears in instruction JSON. Booleans
// alternate by position (odd true, even false) so both values are covered.
func Sample(f policy.Field, pos int) any {
	switch {
	case f.Kind == policy.KindBool:
		return pos%2 == 1
	case f.Kind == policy.KindInt:
		return f.Min + (f.Max-f.Min)/3
	case f.Kind == policy.KindList:
		return strings.Join(f.Enum, ",")
	case f.Enum != nil:
		return f.Enum[len(f.Enum)-1]
	case f.SidPrefix != "":
		return f.SidPrefix + "0123456789abcdef0123456789ABCDEF"
	case f.URL:
		return "https://example.com/" + f.JSON
	case f.Contact:
		return "+15005550006" // E.164: valid as a caller ID and as a destination

	}
	return "sample-" + f.JSON
}

// FullJSON is the named instruction with every field set to its Sample.
func FullJSON(name string) map[string]any {
	m := map[string]any{"instruction": name}
	for i, f := range policy.Fields(name) {
		m[f.JSON] = Sample(f, i)
	}
	return m
}

// Full is the named instruction with every field set; it validates.
func Full(name string) (policy.Instruction, error) {
	data, err := json.Marshal(FullJSON(name))
	if err != nil {
		return nil, fmt.Errorf("encode full %s: %w", name, err)
	}
	ins, err := policy.ParseInstruction(data)
	if err != nil {
		return nil, fmt.Errorf("parse full %s: %w", name, err)
	}
	if err := ins.Validate(); err != nil {
		return nil, fmt.Errorf("full %s: %w", name, err)
	}
	return ins, nil
}
