package emulator_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
	"testing"
)

// The package keeps no mutable state at package level: a table of values
// is a function returning a fresh one (defaultChannels, SupportedParams),
// so no caller can change what another sees, and two emulators in one
// process share nothing. A //go:embed variable is the one exception: embed
// needs a variable.
func TestNoPackageLevelMutableState(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range pkgs {
		for _, file := range pkg.Files {
			for _, decl := range file.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR || embedded(gd) {
					continue
				}
				for _, spec := range gd.Specs {
					for _, name := range spec.(*ast.ValueSpec).Names {
						t.Errorf("%s: package-level var %s: make it a function returning a fresh value", fset.Position(name.Pos()), name.Name)
					}
				}
			}
		}
	}
}

// embedded reports whether gd is a //go:embed variable.
func embedded(gd *ast.GenDecl) bool {
	if gd.Doc == nil {
		return false
	}
	for _, c := range gd.Doc.List {
		if strings.HasPrefix(c.Text, "//go:embed") {
			return true
		}
	}
	return false
}
