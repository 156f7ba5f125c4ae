package rules

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// unknownKeys lists every key of a rules file that its layout (the file
// struct's yaml tags) lacks, each with its file and line and the nearest
// valid key: yaml's own report names Go types ("field whn not found in type
// rules.ruleSpec"). A file that is not YAML at all is left to the decoder.
func unknownKeys(source string, data []byte) []string {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil
	}
	var problems []string
	walkKeys(source, &root, reflect.TypeFor[file](), &problems)
	return problems
}

// walkKeys checks n's keys against t, recursing into the fields and list
// elements that are themselves structs. A value of the wrong shape is the
// decoder's to report.
func walkKeys(source string, n *yaml.Node, t reflect.Type, problems *[]string) {
	switch {
	case n.Kind == yaml.DocumentNode:
		for _, c := range n.Content {
			walkKeys(source, c, t, problems)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			walkKeys(source, c, t.Elem(), problems)
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		names, types := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Tag == "!!merge" { // `<<: *anchor` brings keys checked where the anchor is
				continue
			}
			ft, ok := types[k.Value]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s:%d: unknown key %q; %s", source, k.Line, k.Value, suggest(k.Value, names)))
				continue
			}
			walkKeys(source, n.Content[i+1], ft, problems)
		}
	}
}

// yamlFields returns t's keys in declaration order and each one's type.
func yamlFields(t reflect.Type) ([]string, map[string]reflect.Type) {
	var names []string
	types := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		types[name] = f.Type
	}
	return names, types
}

// suggest is "did you mean X?" for the valid name nearest to got, or every
// valid name when none is near.
func suggest(got string, valid []string) string {
	if near, ok := Nearest(got, valid); ok {
		return fmt.Sprintf("did you mean %q?", near)
	}
	return "want one of " + strings.Join(valid, ", ")
}

// Nearest is the candidate with the smallest edit distance from word, if it
// is close enough to be a typo of it (about one edit in three letters): the
// one "did you mean" of keys, instruction names and, in policy replay's
// lint, attribute names.
func Nearest(word string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	for _, c := range candidates {
		if d := editDistance(word, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best, bestDist >= 0 && bestDist <= (len(word)+2)/3
}

// editDistance is the Levenshtein distance between a and b, in bytes (keys,
// instruction names and attribute names are nearly always ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
