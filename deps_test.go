package assignd_test

// Import rules between this module's packages, in the spirit of the Go
// standard library's go/build deps_test.go. The table is the architecture:
// a change that adds an arrow not written here fails TestDependencyRules,
// and README's Architecture section draws the same picture.

import (
	"go/build"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/assignd/assignd"

// depsRules lists, in "A, B < C, D;" form, that C and D may import A and B
// and whatever A and B may import (so the arrows are transitive, and a
// chain "a < b < c" reads as layers). NONE names packages that import none
// of ours. Only non-test code is held to the table: a test may compose
// whatever it needs.
const depsRules = `
	# Leaves: TaskRouter's wire format, and helpers that need nothing of ours.
	NONE < taskrouter, taskrouter/taskroutertest, internal/needs, internal/sqlitefile, internal/testwait,
	       policy/examples, telemetry/telemetrytest, admin, bench/floor, bench/taskgen,
	       whatif/report;

	# The emulator is a library in its own right: the wire format and its own code.
	NONE < emulator/expr;
	taskrouter, emulator/expr < emulator < emulator/emulatortest;

	# The service, inner to outer.
	taskrouter < policy < policy/rules, policy/policytest;
	policy < handlers, async;
	handlers < decisionlog;
	internal/sqlitefile < async, decisionlog; # both stores' SQLite files, named one way
	decisionlog, policy/rules < whatif/replay;
	async, decisionlog, policy/examples, policy/rules, whatif/replay, whatif/report < inspect;
	whatif/report < whatif/report/reporttest; # tests' reports
	emulator, inspect < inspect/emuview;
	admin, decisionlog, policy/examples, policy/rules < config < telemetry;
	internal/needs < async/asynctest, inspect/browsertest;

	# Tools that speak to a running service.
	handlers < bench/hostile, bench/loadgen;

	# Composition: the whole service, put together only by cmd and by the
	# test helper that cmd's and the parts' tests share.
	async, async/asynctest, decisionlog, emulator/emulatortest, policy/rules
	  < internal/servicetest;
	# What-if: a simulated day on the emulator, measured into a report; the
	# service deciding it is given to it by cmd.
	emulator, whatif/report < whatif/simulate;

	async, config, inspect/emuview, policy/examples, telemetry, whatif/simulate < cmd/assignd;
`

// allowedDeps parses depsRules into each package's allowed imports.
func allowedDeps(t *testing.T) map[string][]string {
	t.Helper()
	allowed := map[string][]string{}
	var text strings.Builder
	for _, line := range strings.Split(depsRules, "\n") {
		line, _, _ = strings.Cut(line, "#")
		text.WriteString(line + " ")
	}
	for _, rule := range strings.Split(text.String(), ";") {
		if strings.TrimSpace(rule) == "" {
			continue
		}
		layers := strings.Split(rule, "<")
		if len(layers) < 2 {
			t.Fatalf("rule %q: want A < B", strings.TrimSpace(rule))
		}
		for i := 1; i < len(layers); i++ {
			for _, to := range names(layers[i]) {
				if _, ok := allowed[to]; !ok {
					allowed[to] = nil
				}
				for _, from := range names(layers[i-1]) {
					if from == "NONE" {
						continue
					}
					if _, ok := allowed[from]; !ok {
						t.Fatalf("rule %q: %s is used before it is defined", strings.TrimSpace(rule), from)
					}
					allowed[to] = append(allowed[to], from)
					allowed[to] = append(allowed[to], allowed[from]...)
				}
			}
		}
	}
	for p := range allowed {
		slices.Sort(allowed[p])
		allowed[p] = slices.Compact(allowed[p])
	}
	return allowed
}

func names(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// modulePackages reads every package of the module with go/build: its
// path relative to the module and its imports of our packages (non-test).
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if base := d.Name(); dir != "." && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") || base == "testdata") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(dir, 0)
		if _, none := err.(*build.NoGoError); none || err == nil && len(p.GoFiles) == 0 {
			return nil // no package, or tests only (this file's)
		}
		if err != nil {
			return err
		}
		var ours []string
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				ours = append(ours, rel)
			}
		}
		pkgs[filepath.ToSlash(dir)] = ours
		return nil
	})
	if err != nil {
		t.Fatalf("read packages: %v", err)
	}
	return pkgs
}

func TestDependencyRules(t *testing.T) {
	allowed := allowedDeps(t)
	pkgs := modulePackages(t)
	for _, p := range slices.Sorted(maps.Keys(pkgs)) {
		ok, listed := allowed[p]
		if !listed {
			t.Errorf("%s is not in depsRules: place it in the table", p)
			continue
		}
		for _, imp := range pkgs[p] {
			if !slices.Contains(ok, imp) {
				t.Errorf("%s imports %s, which depsRules does not allow", p, imp)
			}
		}
	}
	for p := range allowed {
		if _, ok := pkgs[p]; !ok {
			t.Errorf("depsRules names %s, which is no package of this module", p)
		}
	}
}

// The emulator and emulatortest are usable in another team's tests without
// the service: whatever the table says, their actual imports, followed
// transitively, reach none of the product packages.
func TestEmulatorStandsAlone(t *testing.T) {
	pkgs := modulePackages(t)
	product := []string{"handlers", "policy", "async", "decisionlog", "inspect", "admin", "config", "telemetry"}
	for _, root := range []string{"emulator", "emulator/emulatortest"} {
		seen := map[string]bool{}
		queue := []string{root}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, imp := range pkgs[p] {
				if !seen[imp] {
					seen[imp] = true
					queue = append(queue, imp)
				}
			}
		}
		for p := range seen {
			if slices.Contains(product, strings.SplitN(p, "/", 2)[0]) || p == "internal/servicetest" {
				t.Errorf("%s depends on %s", root, p)
			}
		}
	}
}

// README's Architecture section names every package the table places.
func TestReadmeArchitectureListsPackages(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Architecture\n")
	if !ok {
		t.Fatal("README.md has no Architecture section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(section, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '`' }) {
		words[w] = true
	}
	for p := range allowedDeps(t) {
		if !words[p] {
			t.Errorf("README's Architecture section does not name %s", p)
		}
	}
}
